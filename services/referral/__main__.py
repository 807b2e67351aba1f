from kernel.runtime import main_for
from services.referral.service import SPEC

main_for(SPEC)
