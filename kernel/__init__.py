"""Shared kernel: the plumbing every Entraide service repeats, written once."""
