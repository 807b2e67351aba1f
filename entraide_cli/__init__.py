"""The `entraide` command: the services' RPCs for people, in French, with --json."""
