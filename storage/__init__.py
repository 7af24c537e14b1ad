"""Storage: typed models of the schema, tenant-scoped sessions, domain operations and migrations."""
