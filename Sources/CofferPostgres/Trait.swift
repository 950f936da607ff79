// CofferPostgres stores a vault's log in PostgreSQL through postgres-nio, which the package
// fetches only with its PostgreSQL trait (on by default).
#if !PostgreSQL
    #error("CofferPostgres needs the Coffer package's PostgreSQL trait: depend on the package with its default traits.")
#endif
