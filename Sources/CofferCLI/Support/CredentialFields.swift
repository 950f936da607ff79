import Coffer

/// Turns `--set` fields into the fields of a credential type.
///
/// - `api_token` has one field, `token`: a single token-like name (`apiKey`, `api_key`,
///   `token`, `secret`, …) is taken as it, so `--set apiKey=…` works as people type it.
/// - `custom` has one field, `json`: `--set json=…` is taken as the object itself; any other
///   names are members of the object, which the planner builds or edits (OPS-FIELD-CUSTOM:
///   `--set region=eu --set key=…` → `{"key":"…","region":"eu"}`, and later
///   `update --set region=us` changes that member alone).
/// - Every other type takes its own field names as they are; `expires_at` may be given as an
///   ISO 8601 time (`2027-01-31T12:00:00Z`, an offset, or a date alone at midnight UTC, also
///   in the basic form `20270131`) as well as Unix seconds, and is stored as Unix seconds.
enum CredentialFields {
    /// Names that mean "the token" (compared without case, `_` and `-`).
    static let tokenNames: Set<String> = [
        "token", "apikey", "apitoken", "accesstoken", "authtoken", "bearertoken", "secret", "secretkey", "key", "pat",
        "personalaccesstoken",
    ]

    static func isTokenLike(_ name: String) -> Bool {
        tokenNames.contains(String(name.lowercased().filter { $0 != "_" && $0 != "-" }))
    }

    /// The type `credentials set` uses without `--type`: `api_token` when the only field is
    /// token-like, `custom` otherwise.
    static func inferredType(_ fields: FieldValues) -> CredentialType {
        fields.count == 1 && isTokenLike(fields.names[0]) ? .apiToken : .custom
    }

    /// The fields as `type` names them.
    ///
    /// - Throws: `.invalidInput` for an `expires_at` that is neither an ISO 8601 time nor Unix
    ///   seconds (nine digits or more): eight digits that are not a date, or a number of
    ///   seconds such as an `expires_in` of 3600, would be read as a time in 1970; and for an
    ///   ISO 8601 time before ``earliestExpiry``, which the seconds cannot give either.
    static func shaped(_ fields: FieldValues, for type: CredentialType) throws(CofferError) -> FieldValues {
        var fields = fields
        if type == .oauth2, let given = fields["expires_at"], given.count > 0 {
            let text = given.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
            if let seconds = unixSeconds(fromISO8601: text) {
                guard seconds >= earliestExpiry else {
                    throw CofferError(
                        .invalidInput,
                        "expires_at is before 1973-03-03T09:46:40Z, the earliest expiry taken (Unix seconds of nine "
                            + "digits); a date that early is a mistake.")
                }
                fields["expires_at"] = SecureBytes.copying(text: String(seconds))
            } else if text.count < 9 || !text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
                throw CofferError(
                    .invalidInput,
                    "expires_at must be an ISO 8601 time or date (2027-01-31T12:00:00Z, 2027-01-31, 20270131) or Unix "
                        + "seconds (such as 1801353600), and a date that exists.")
            }
        }
        switch type {
        case .apiToken where fields.count == 1 && fields["token"] == nil && isTokenLike(fields.names[0]):
            return FieldValues(["token": fields[fields.names[0]]!])
        default:
            return fields
        }
    }

    /// The earliest expiry taken, in Unix seconds: the first of nine digits
    /// (1973-03-03T09:46:40Z). Given as seconds or as a time, an earlier one is refused, so
    /// `19700101` is not stored as 0 while `0` is refused.
    static let earliestExpiry: Int64 = 100_000_000

    /// Unix seconds of `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fraction]]` with `Z` or `±HH:MM`
    /// (a space may stand for the `T`), or of the basic date `YYYYMMDD`; nil for anything else
    /// (Unix seconds stay as they are). Eight digits that make a date are read as the date,
    /// never as Unix seconds of 1970–1973, which nobody means by an expiry.
    static func unixSeconds(fromISO8601 text: String) -> Int64? {
        let bytes = Array(text.utf8)
        var index = 0
        func number(_ digits: Int) -> Int64? {
            guard index + digits <= bytes.count else { return nil }
            var value: Int64 = 0
            for byte in bytes[index..<(index + digits)] {
                guard (0x30...0x39).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - 0x30)
            }
            index += digits
            return value
        }
        func expect(_ character: Character) -> Bool {
            guard index < bytes.count, bytes[index] == character.asciiValue! else { return false }
            index += 1
            return true
        }
        let basic = bytes.count == 8
        guard let year = number(4), basic || expect("-"), let month = number(2), basic || expect("-"),
            let day = number(2), (1...12).contains(month)
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let daysInMonth: [Int64] = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...daysInMonth[Int(month) - 1]).contains(day) else { return nil }
        var seconds: Int64 = 0
        if index < bytes.count {
            guard expect("T") || expect(" "), let hour = number(2), expect(":"), let minute = number(2),
                hour < 24, minute < 60
            else { return nil }
            seconds = hour * 3600 + minute * 60
            if expect(":") {
                guard let second = number(2), second < 61 else { return nil }
                seconds += second
                if expect(".") { while index < bytes.count, (0x30...0x39).contains(bytes[index]) { index += 1 } }
            }
            if expect("Z") {
            } else if index < bytes.count, bytes[index] == 0x2B || bytes[index] == 0x2D {
                let sign: Int64 = bytes[index] == 0x2B ? 1 : -1
                index += 1
                guard let hours = number(2), expect(":"), let minutes = number(2), hours < 24, minutes < 60 else {
                    return nil
                }
                seconds -= sign * (hours * 3600 + minutes * 60)
            } else {
                return nil
            }
            guard index == bytes.count else { return nil }
        }
        // Days from the civil date (Howard Hinnant's algorithm), proleptic Gregorian.
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return days * 86_400 + seconds
    }
}
