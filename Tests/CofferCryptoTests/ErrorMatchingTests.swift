import CofferCrypto
import CofferErrors
import Foundation
import XCTest

/// Every way the documentation shows to match a `CofferError` compiles and matches.
final class ErrorMatchingTests: XCTestCase {
    func untyped(_ code: CofferError.Code) throws { throw CofferError(code, "test") }
    func typed(_ code: CofferError.Code) throws(CofferError) { throw CofferError(code, "test") }

    func testCatchAndSwitchPatterns() {
        do {
            try untyped(.locked)
            XCTFail("nothing thrown")
        } catch CofferError.locked {
        } catch {
            XCTFail("not matched: \(error)")
        }
        do {
            try typed(.wrongKey)
            XCTFail("nothing thrown")
        } catch CofferError.wrongKey {
        } catch {
            XCTFail("not matched: \(error)")
        }
        do {
            try untyped(.io(errno: EIO))
        } catch CofferError.io {
            // any errno
        } catch {
            XCTFail("not matched: \(error)")
        }
        do {
            try typed(.io(errno: ENOSPC))
        } catch  where error.code == .io(errno: EIO) {
            XCTFail("matched another errno")
        } catch  where error.code == .io(errno: ENOSPC) {
        } catch {
            XCTFail("not matched: \(error)")
        }
        let error: any Error = CofferError(.conflict, "test")
        switch error {
        case CofferError.locked: XCTFail("matched another code")
        case CofferError.conflict: break
        default: XCTFail("not matched")
        }
        if case CofferError.conflict = error {} else { XCTFail("if case did not match") }
        XCTAssertFalse(CofferError.notFound ~= (CocoaError(.fileNoSuchFile) as any Error))
    }

    /// The same clauses in async code, as the README says (the async `mutate` throws untyped).
    func testCatchPatternsInAsyncCode() async {
        func untypedAsync(_ code: CofferError.Code) async throws { throw CofferError(code, "test") }
        do {
            try await untypedAsync(.alreadyExists)
            XCTFail("nothing thrown")
        } catch CofferError.alreadyExists {
        } catch CofferError.io {
            XCTFail("matched another code")
        } catch {
            XCTFail("not matched: \(error)")
        }
    }

    func testCodesAreStableWordsAndCodable() throws {
        XCTAssertEqual(CofferError.Code.wrongKey.word, "wrong_key")
        XCTAssertEqual(CofferError.Code.credentialMissing.word, "missing")
        XCTAssertEqual(CofferError.Code.io(errno: EIO).word, "io")
        XCTAssertEqual(CofferError.Code(word: "head_mismatch"), .headMismatch)
        XCTAssertNil(CofferError.Code(word: "nope"))
        let codes: [CofferError.Code] = [.locked, .io(errno: ENOSPC), .cancelled, .permissionDenied]
        let data = try JSONEncoder().encode(codes)
        XCTAssertEqual(String(decoding: data, as: UTF8.self), #"["locked","io:28","cancelled","permission_denied"]"#)
        XCTAssertEqual(try JSONDecoder().decode([CofferError.Code].self, from: data), codes)
        XCTAssertNotEqual(CofferError.Code.io(errno: EIO), .io(errno: ENOSPC), "the errno still counts in ==")
    }
}
