import CSQLCipher
import SQLBench

// Linked against one SQLite library only; see Package.swift for why.
SQLHelper.main(
    engine: "sqlcipher",
    calls: SQLiteCalls(
        openV2: sqlite3_open_v2, closeV2: sqlite3_close_v2, prepareV2: sqlite3_prepare_v2, step: sqlite3_step,
        reset: sqlite3_reset, finalize: sqlite3_finalize, bindBlob: sqlite3_bind_blob, bindText: sqlite3_bind_text,
        bindInt64: sqlite3_bind_int64, columnBlob: sqlite3_column_blob, columnBytes: sqlite3_column_bytes,
        columnInt64: sqlite3_column_int64, columnText: sqlite3_column_text, errorMessage: sqlite3_errmsg,
        libraryVersion: sqlite3_libversion),
    encrypts: true)
