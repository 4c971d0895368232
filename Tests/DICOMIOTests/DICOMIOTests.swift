import Testing
@testable import DICOMIO
