import Testing
@testable import NeuralEngine

/// The loss config-string parser: precedence, parentheses, coefficients and its errors.
@Suite struct LossExpressionTests {
    func terms(_ text: String) throws -> [String] {
        try LossExpression.parse(text).terms.map { "\(formatWeight($0.weight))*\($0.name)" }
    }

    @Test func precedenceParenthesesAndCoefficients() throws {
        #expect(try terms("xent_plus + 0.1*dice_soft") == ["1*xent_plus", "0.1*dice_soft"])
        #expect(try terms("mce + mdice + 2*(ece + edice)") == ["1*mce", "1*mdice", "2*ece", "2*edice"])
        #expect(try terms("xent_or + 2*dice_log*3") == ["1*xent_or", "6*dice_log"])
        #expect(try terms("2*(xent_base + 0.5*(dice_soft + mce))*3") == ["6*xent_base", "3*dice_soft", "3*mce"])
        #expect(try terms("xent + xent*0.5 + 1e-1*xent") == ["1.6*xent"])
        #expect(try terms("  ( XENT_PLUS )  ") == ["1*xent_plus"])
        #expect(try terms(".5*focal_tversky+2.5E+1*xent_super") == ["0.5*focal_tversky", "25*xent_super"])
        #expect(try LossExpression.parse("xent_plus + 0.1*dice_soft").description == "1*xent_plus + 0.1*dice_soft")
    }

    @Test func optionsReachTheLosses() throws {
        var o = LossOptions()
        o.classWeights = [1, 2]
        o.exclusionEpsilon = 0.25
        let sum = try LossExpression.parse("xent_fp + ece", options: o)
        #expect((sum.terms[0].loss as? PresenceMaskedCrossEntropy)?.classWeights == [1, 2])
        #expect((sum.terms[1].loss as? ExclusionCrossEntropy)?.epsilon == 0.25)
    }

    func failure(_ text: String) -> EngineError? {
        do {
            _ = try LossExpression.parse(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownTermNamesItAndListsTheKnownOnes() throws {
        let e = try #require(failure("xent_plus + 0.1*dice_sfot"))
        #expect(e.code == .lossUnknownTerm)
        #expect(e.reason.contains("unknown loss \"dice_sfot\" at column 17"))
        for name in LossCatalog.names { #expect(e.reason.contains(name)) }
    }

    @Test(arguments: [
        ("", "the loss expression is empty"),
        ("xent_plus +", "unexpected end of the expression at column 12"),
        ("(xent_plus + mce", "missing \")\" for the \"(\" at column 1"),
        ("xent_plus * dice_soft", "\"*\" at column 11 multiplies two losses"),
        ("xent_plus + 3", "the number at column 13 is added"),
        ("2*3", "the expression is a number"),
        ("xent - dice_soft", "\"-\" at column 6"),
        ("-1*xent", "\"-\" at column 1"),
        ("xent $", "unexpected \"$\" at column 6"),
        ("xent)", "unexpected \")\" at column 5"),
        ("0*xent", "\"xent\" has weight 0"),
        ("2**xent", "unexpected \"*\" at column 3"),
        ("(mce dice_soft)", "unexpected \"d\" at column 6"),
        ("1.2.3*xent", "unexpected \".\" at column 4"),
        (".*xent", "\".\" at column 1 is not a number"),
    ])
    func syntaxErrorsSayWhere(text: String, message: String) throws {
        let e = try #require(failure(text))
        #expect(e.code == .lossSyntax)
        #expect(e.reason.contains(message), "\(e.reason)")
    }
}
