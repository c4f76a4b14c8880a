"""Search spaces shipped with nas; each sub-package registers one space by name."""
