// SQLCipher's header has the same name as SQLite's: name it by its directory so that this
// module can never pick up /usr/include/sqlite3.h by accident.
#define SQLITE_HAS_CODEC 1
#include <sqlcipher/sqlite3.h>
