"""Jobs as a service: the spec a user gives, its validation and preparation (shared by the CLI and the API)."""
