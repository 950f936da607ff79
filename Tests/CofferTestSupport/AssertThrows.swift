import CofferCrypto
import CofferErrors
import XCTest

/// Asserts that `body` throws a `CofferError` with `code`, and returns it.
@discardableResult
public func assertThrowsCoffer<T>(
    _ code: CofferError.Code, file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T
) -> CofferError? {
    do {
        _ = try body()
        XCTFail("expected \(code), nothing was thrown", file: file, line: line)
    } catch let error as CofferError {
        XCTAssertEqual(error.code, code, "\(error)", file: file, line: line)
        return error
    } catch {
        XCTFail("expected CofferError \(code), got \(type(of: error))", file: file, line: line)
    }
    return nil
}

/// Asserts that the expression throws a `CofferError` with `code`: the one-expression form of
/// ``assertThrowsCoffer(_:file:line:_:)``. Named as XCTest names its assertions, beside which it is used.
// swift-format-ignore: AlwaysUseLowerCamelCase
public func XCTAssertThrowsCode<T>(
    _ code: CofferError.Code, _ body: @autoclosure () throws -> T, file: StaticString = #filePath, line: UInt = #line
) {
    assertThrowsCoffer(code, file: file, line: line) { try body() }
}

/// Asserts that `body` throws a `CofferError` with code `.io`, whatever the errno, and returns it.
@discardableResult
public func assertThrowsIO<T>(file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> T)
    -> CofferError?
{
    do {
        _ = try body()
        XCTFail("expected .io, nothing was thrown", file: file, line: line)
    } catch let error as CofferError {
        guard case .io = error.code else {
            XCTFail("expected .io, got \(error)", file: file, line: line)
            return error
        }
        return error
    } catch {
        XCTFail("expected CofferError .io, got \(type(of: error))", file: file, line: line)
    }
    return nil
}
