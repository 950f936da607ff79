import Coffer

/// Limits shared by the export, the bundle and the importers.
public enum ExchangeLimits {
    /// The largest input file an importer reads: a bundle, a JSON export, a dotenv file or a
    /// CSV. One import is one transaction, and a transaction is at most 16 MiB (FORMAT.md
    /// F-FRAME-MAX), so a larger file could never land anyway.
    public static let inputBytesMax = 256 << 20
}
