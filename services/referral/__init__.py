"""Referral: the partner directory and the referrals' closed loop."""
