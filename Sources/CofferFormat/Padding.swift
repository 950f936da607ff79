/// Size buckets for sealed plaintexts (F-PAD).
///
/// A record's sealed size would otherwise tell an observer of the file how long its secret is,
/// and a key's length often names its provider. Plaintexts are padded with zeros to the
/// smallest bucket that holds them: a power of two from 256 B to 64 KiB, then a multiple
/// of 64 KiB.
public enum Padding {
    /// The bucket size for `unpaddedBytes` bytes of plaintext, or `nil` above the maximum.
    public static func bucketSize(for unpaddedBytes: Int) -> Int? {
        guard unpaddedBytes <= FormatConstants.paddedBytesMax else { return nil }
        if unpaddedBytes <= FormatConstants.paddedBytesMin { return FormatConstants.paddedBytesMin }
        if unpaddedBytes <= FormatConstants.paddingStepLarge {
            var size = FormatConstants.paddedBytesMin
            while size < unpaddedBytes { size <<= 1 }
            return size
        }
        let step = FormatConstants.paddingStepLarge
        return (unpaddedBytes + step - 1) / step * step
    }

    /// Whether `size` is one of the bucket sizes.
    public static func isBucketSize(_ size: Int) -> Bool {
        bucketSize(for: size) == size
    }
}
