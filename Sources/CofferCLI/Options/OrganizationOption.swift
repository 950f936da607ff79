import ArgumentParser

/// `--org ORG`: the organization a command works in, by slug or id.
struct OrganizationOption: ParsableArguments {
    @Option(name: .customLong("org"), help: ArgumentHelp("The organization, by slug or id.", valueName: "org"))
    var organization: String
}
