import CofferFuzzBodies

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    FuzzEntry.run(.checkpoint, data, size)
}
