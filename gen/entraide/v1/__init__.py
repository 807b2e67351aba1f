"""Generated from proto/ by devstack.protogen; do not edit."""
