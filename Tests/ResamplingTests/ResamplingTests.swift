import Testing
@testable import Resampling
