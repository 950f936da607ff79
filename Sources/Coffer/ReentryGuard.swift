import CofferErrors

#if canImport(Glibc)
    import Glibc
#endif

/// What the calling thread is inside of, vault by vault: the body of a `read(_:)`, or the
/// planning closures of a batch of commits it leads. A writing call made from either would
/// wait forever: inside `read(_:)` for the reader lock the same thread holds (publishing a
/// commit, a compaction's switch and a refresh take the index for writing, and the other
/// writing calls wait for those), inside a plan for the writer lock the same thread holds.
/// The writing calls ask ``refuse(_:on:)`` first and throw instead.
///
/// The marks are a list through the stack frames of the calls that made them, its top in a
/// thread-specific slot: marking allocates nothing, and the check walks a list as deep as
/// the calls are nested (one or two).
enum ReentryGuard {
    /// What a mark says the thread is inside of.
    enum Inside {
        case read
        case plan
    }

    private struct Mark {
        let vault: ObjectIdentifier
        let inside: Inside
        let enclosing: UnsafeMutableRawPointer?
    }

    /// The slot holding the thread's innermost mark. Made once and never deleted.
    private static let top: pthread_key_t = {
        var key = pthread_key_t()
        precondition(pthread_key_create(&key, nil) == 0, "no thread-specific key left")
        return key
    }()

    /// Runs `body` with the calling thread marked as inside `inside` of `vault`.
    static func marking<Result, Failure: Error>(
        _ vault: AnyObject, _ inside: Inside, _ body: () throws(Failure) -> Result
    ) throws(Failure) -> Result {
        let enclosing = pthread_getspecific(top)
        var mark = Mark(vault: ObjectIdentifier(vault), inside: inside, enclosing: enclosing)
        return try withUnsafeMutablePointer(to: &mark) { (pointer) throws(Failure) -> Result in
            pthread_setspecific(top, pointer)
            defer { pthread_setspecific(top, enclosing) }
            return try body()
        }
    }

    /// What of `vault` the calling thread is inside of, innermost first; `nil` when nothing.
    static func inside(_ vault: AnyObject) -> Inside? {
        let wanted = ObjectIdentifier(vault)
        var next = pthread_getspecific(top)
        while let pointer = next {
            let mark = pointer.load(as: Mark.self)
            if mark.vault == wanted { return mark.inside }
            next = mark.enclosing
        }
        return nil
    }

    /// Throws when the calling thread is inside a `read(_:)` or a plan of `vault`, where
    /// `call`, one of its writing calls, would wait forever.
    ///
    /// - Throws: `.invalidInput` naming `call` and what it was called inside of.
    static func refuse(_ call: StaticString, on vault: AnyObject) throws(CofferError) {
        switch inside(vault) {
        case nil:
            return
        case .read:
            throw CofferError(
                .invalidInput,
                "\(call) was called inside read(_:) of the same vault, whose end it would wait for forever: "
                    + "return from read(_:) first, then write.")
        case .plan:
            throw CofferError(
                .invalidInput,
                "\(call) was called inside a mutate plan of the same vault, whose end it would wait for forever: "
                    + "a plan only plans; make the call after mutate returns.")
        }
    }
}
