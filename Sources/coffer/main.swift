// The `coffer` executable: everything is in CofferCLI, so tests can run the same code.
import CofferCLI

CofferTool.main()
