import Testing
@testable import ImagingCore
