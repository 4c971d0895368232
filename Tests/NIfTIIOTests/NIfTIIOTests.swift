import Testing
@testable import NIfTIIO
