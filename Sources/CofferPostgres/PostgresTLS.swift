import CofferErrors

/// How a TCP connection to PostgreSQL is encrypted, as libpq's `sslmode` and `sslrootcert` say.
///
/// The frames a vault stores are sealed whatever this says; TLS keeps the login (a password
/// the server asks for in clear, with its `password` method) and the traffic's metadata from
/// the network, and, verified, keeps a server that is not the database from taking the
/// writes. A Unix socket is local: no TLS is spoken over it, as libpq speaks none.
public struct PostgresTLS: Sendable, Equatable {
    /// libpq's `sslmode` values, but `allow` (which tries without TLS first).
    public enum Mode: String, Sendable, Equatable, CaseIterable {
        /// No TLS.
        case disable
        /// TLS when the server offers it, without checking its certificate; without TLS
        /// otherwise. The default, as libpq's.
        case prefer
        /// TLS or no connection; the certificate is not checked, so a server in the middle
        /// is not detected.
        case require
        /// TLS, with a certificate signed by a trusted authority, whatever name it bears.
        case verifyCA = "verify-ca"
        /// TLS, with a certificate signed by a trusted authority for the host's name.
        case verifyFull = "verify-full"

        /// Whether the server's certificate is checked.
        public var verifies: Bool { self == .verifyCA || self == .verifyFull }
    }

    /// How much TLS is asked for.
    public var mode: Mode
    /// A PEM file of the certificate authorities trusted for ``Mode/verifyCA`` and
    /// ``Mode/verifyFull`` (`sslrootcert`); nil trusts the system's, for `verify-full` only:
    /// any public authority's certificate, for any name, would pass `verify-ca`.
    public var rootCertificates: String?

    /// `prefer`, the system's authorities.
    public static let `default` = PostgresTLS(mode: .prefer)

    /// - Parameters:
    ///   - mode: how much TLS is asked for.
    ///   - rootCertificates: a PEM file of trusted authorities, for a mode that verifies.
    public init(mode: Mode, rootCertificates: String? = nil) {
        self.mode = mode
        self.rootCertificates = rootCertificates
    }

    /// Reads `sslmode` and `sslrootcert` from a URL's parameters, else from `PGSSLMODE` and
    /// `PGSSLROOTCERT` in `environment`, as libpq does (`PGSSLROOTCERT` only for a mode that
    /// can use it). `require` with root certificates is `verify-ca`, as in libpq.
    ///
    /// - Throws: `CofferError(.invalidInput)` for a mode libpq does not have (not quoted: it
    ///   may be text a malformed URL took from a password), for `allow`, for a root
    ///   certificate file given to a mode that checks no certificate, and for `verify-ca`
    ///   without one.
    init(parameters: [String: String], environment: [String: String], invalid: (String) -> CofferError) throws {
        var mode = Self.default.mode
        if let text = parameters["sslmode"] ?? environment["PGSSLMODE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            if text == "allow" {
                throw invalid("sslmode=allow is not supported (it tries without TLS first): give prefer or disable")
            }
            guard let given = Mode(rawValue: text) else {
                throw invalid("sslmode must be disable, prefer, require, verify-ca or verify-full")
            }
            mode = given
        }
        // PGSSLROOTCERT, which psql users often export, serves only a mode that checks
        // certificates (require included), as in libpq; given in the URL to another mode, it is
        // a mistake.
        var rootCertificates = parameters["sslrootcert"]
        if rootCertificates == nil, mode.verifies || mode == .require {
            rootCertificates = environment["PGSSLROOTCERT"].flatMap { $0.isEmpty ? nil : $0 }
        }
        if let rootCertificates {
            if mode == .require { mode = .verifyCA }
            guard mode.verifies else {
                throw invalid("sslrootcert is for sslmode=verify-ca or verify-full, which check the certificate")
            }
            guard rootCertificates.hasPrefix("/") else {
                throw invalid("sslrootcert must be an absolute path")
            }
        } else if mode == .verifyCA {
            throw invalid(
                "sslmode=verify-ca needs sslrootcert, the authorities to trust: any public authority's certificate, "
                    + "for any name, would pass it; or use verify-full, which checks the name")
        }
        self.init(mode: mode, rootCertificates: rootCertificates)
    }

    /// The URL parameters that give this setting, none for the default.
    var parameters: [(String, String)] {
        var parameters: [(String, String)] = []
        if mode != Self.default.mode { parameters.append(("sslmode", mode.rawValue)) }
        if let rootCertificates { parameters.append(("sslrootcert", rootCertificates)) }
        return parameters
    }
}
