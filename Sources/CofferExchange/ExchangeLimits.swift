import Coffer

/// Limits shared by the export, the bundle and the importers.
public enum ExchangeLimits {
    /// The largest input file an importer reads: a bundle, a JSON export, a dotenv file or a
    /// CSV. One import is one transaction, and a transaction is at most 16 MiB (FORMAT.md
    /// F-FRAME-MAX), so a larger file could never land anyway.
    public static let inputBytesMax = 256 << 20

    /// The largest file or bundle content an import reads (I-LIMITS). An import is one
    /// transaction of at most 65,536 operations and 16 MiB, which no JSON of more than a few
    /// times that describes; refusing before reading keeps a hostile file from costing
    /// gigabytes. Exports are not limited by it.
    public static let importBytesMax = 64 << 20
    /// The most entries of one list an import reads (I-LIMITS): organizations, users,
    /// credentials, … each take at least one operation, and a transaction holds 65,536.
    public static let importEntriesMax = 65536
    /// The most JSON values an import parses (I-LIMITS): about 64 per operation, so that the
    /// parsed form of a hostile document stays within a few hundred megabytes.
    public static let importValuesMax = 1 << 22
}
