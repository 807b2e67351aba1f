from kernel.runtime import main_for
from services.intake.service import SPEC

main_for(SPEC)
