/// A throw-away SSH key pair for tests of the `ssh_key` type's rules (OPS-FIELD-KEYPAIR), made by
/// `ssh-keygen -t ed25519` without a passphrase for these tests only.
public enum TestSSHKeys {
    /// The private key in OpenSSH armour, which holds its public key unencrypted.
    public static let privateKey = """
        -----BEGIN OPENSSH PRIVATE KEY-----
        b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
        QyNTUxOQAAACBc7yMcZ24cGTJb7Ox4I7jxPlG0DNoAyhu5cRCZbQx/8QAAAJDDhYlyw4WJ
        cgAAAAtzc2gtZWQyNTUxOQAAACBc7yMcZ24cGTJb7Ox4I7jxPlG0DNoAyhu5cRCZbQx/8Q
        AAAED9qAHGrl+Xhjrwqy14nH0TMP/759Q9nO1aFM2npJTnIlzvIxxnbhwZMlvs7HgjuPE+
        UbQM2gDKG7lxEJltDH/xAAAAC2NvZmZlci10ZXN0AQI=
        -----END OPENSSH PRIVATE KEY-----
        """

    /// The public half of ``privateKey``, as `ssh-keygen -y` prints it.
    public static let publicKey =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFzvIxxnbhwZMlvs7HgjuPE+UbQM2gDKG7lxEJltDH/x coffer-test"

    /// The public key of another pair: not ``privateKey``'s.
    public static let otherPublicKey =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHfF7hE9+P+a+pXcE130xyBIKGPzejpCk7PBDAde+WeH other@example.com"
}
