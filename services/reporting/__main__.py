from kernel.runtime import main_for
from services.reporting.service import SPEC

main_for(SPEC)
