import ArgumentParser
import Coffer

/// `coffer member remove HANDLE --org ORG`.
struct MemberRemove: OrganizationCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "End a user's membership of an organization.",
        discussion: """
            The member's user-scope credentials in the organization are deleted and their API keys there revoked; \
            when there are any, only with --yes (without it the command lists them, changes nothing and exits 1).

            Example:
              coffer member remove alice --org acme --yes
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup(title: "Unlocking") var unlock: UnlockOptions
    @OptionGroup var organization: OrganizationOption

    @Argument(help: "The user, by handle or id.")
    var user: String

    @Flag(help: "Also delete the member's credentials and revoke their API keys.")
    var yes = false

    func execute(in context: CommandContext) throws {
        try Removal(
            plan: { try $0.removeMember(user, from: organization.organization) },
            ownShare: { impact in
                var own = Impact()
                own.removedMemberships = impact.removedMemberships
                return own
            },
            subject: "\(user) from \(organization.organization)"
        ).run(access: access, yes: yes, in: context)
    }
}
