/// The benchmark's dataset: organizations, projects, users, credentials of mixed types,
/// assignments and resolution requests, drawn from a seed so that every engine (each in its
/// own process) holds exactly the same rows and answers exactly the same requests.
///
/// Shape, per 1,000 credentials: one organization with 10 projects and 10 member users;
/// 30 % of its credentials at organization scope, 50 % at project scope, 20 % at user scope,
/// over 40 app keys with a skew towards the first ones. The first credential created in each
/// (organization, app, owner) group is that group's default, so every scope resolves.
public struct Dataset: Sendable {
    public static let credentialsPerOrganization = 1000
    public static let projectsPerOrganization = 10
    public static let usersPerOrganization = 10
    public static let workflowsPerOrganization = 8
    public static let requestCount = 4096
    public static let pointReadCount = 65536

    public static let appKeys = [
        "openai", "anthropic", "github", "gitlab", "slack", "linear", "notion", "stripe", "twilio", "sendgrid",
        "aws", "gcp", "azure", "datadog", "sentry", "pagerduty", "jira", "confluence", "hubspot", "salesforce",
        "zendesk", "intercom", "discord", "telegram", "dropbox", "box", "airtable", "figma", "vercel", "netlify",
        "cloudflare", "fastly", "mailgun", "postmark", "segment", "mixpanel", "amplitude", "exa", "perplexity",
        "mistral",
    ]

    /// Credentials in the dataset.
    public let size: Int
    public let seed: UInt64
    public let organizationCount: Int
    /// Where each credential lives; its fields are drawn on demand by ``credential(_:)``.
    public let meta: [CredentialMeta]
    public let assignments: [AssignmentSpec]
    public let requests: [RequestSpec]
    /// Credential indices for point reads, uniform over the dataset.
    public let pointReads: [Int32]

    public init(size: Int, seed: UInt64) {
        precondition(size > 0 && size % Self.credentialsPerOrganization == 0, "size must be a multiple of 1000")
        self.size = size
        self.seed = seed
        organizationCount = size / Self.credentialsPerOrganization
        let apps = Self.appKeys.count
        let projects = Self.projectsPerOrganization
        let users = Self.usersPerOrganization

        // Group heads: the first (default) credential of each owner and app, or -1.
        var organizationHead = [Int32](repeating: -1, count: organizationCount * apps)
        var projectHead = [Int32](repeating: -1, count: organizationCount * projects * apps)
        var userHead = [Int32](repeating: -1, count: organizationCount * users * apps)
        var meta: [CredentialMeta] = []
        meta.reserveCapacity(size)
        for index in 0..<size {
            var random = SplitMix(seed: seed, item: UInt64(index))
            let organization = index / Self.credentialsPerOrganization
            let draw = random.below(100)
            let scope: CredentialScopeKind = draw < 30 ? .organization : draw < 80 ? .project : .user
            let owner = scope == .organization ? 0 : random.below(scope == .project ? projects : users)
            let app = Swift.min(random.below(apps), random.below(apps))
            let slot: Int
            switch scope {
            case .organization: slot = organization * apps + app
            case .project: slot = (organization * projects + owner) * apps + app
            case .user: slot = (organization * users + owner) * apps + app
            }
            var isDefault = false
            switch scope {
            case .organization where organizationHead[slot] < 0:
                organizationHead[slot] = Int32(index)
                isDefault = true
            case .project where projectHead[slot] < 0:
                projectHead[slot] = Int32(index)
                isDefault = true
            case .user where userHead[slot] < 0:
                userHead[slot] = Int32(index)
                isDefault = true
            default: break
            }
            meta.append(
                CredentialMeta(
                    organization: Int32(organization), scope: scope, owner: UInt8(owner), app: UInt8(app),
                    isDefault: isDefault))
        }
        self.meta = meta

        // Assignments: per organization and workflow, one exact consumer and one wildcard,
        // each pinned to an organization-scope credential.
        var assignments: [AssignmentSpec] = []
        var random = SplitMix(seed: seed ^ 0xA551_6E)
        for organization in 0..<organizationCount {
            let withOrganizationScope = (0..<apps).filter { organizationHead[organization * apps + $0] >= 0 }
            precondition(withOrganizationScope.count >= 2, "an organization without shared credentials")
            for workflow in 0..<Self.workflowsPerOrganization {
                let exactApp = withOrganizationScope[random.below(withOrganizationScope.count)]
                var wildcardApp = exactApp
                while wildcardApp == exactApp {
                    wildcardApp = withOrganizationScope[random.below(withOrganizationScope.count)]
                }
                assignments.append(
                    AssignmentSpec(
                        organization: organization, workflow: "wf-\(workflow)", consumer: "step-0", app: exactApp,
                        credential: Int(organizationHead[organization * apps + exactApp])))
                assignments.append(
                    AssignmentSpec(
                        organization: organization, workflow: "wf-\(workflow)", consumer: "*", app: wildcardApp,
                        credential: Int(organizationHead[organization * apps + wildcardApp])))
            }
        }
        self.assignments = assignments

        // Requests: a mix over every step of the resolution order.
        var requests: [RequestSpec] = []
        requests.reserveCapacity(Self.requestCount)
        while requests.count < Self.requestCount {
            let organization = random.below(organizationCount)
            let project = random.below(projects)
            let draw = random.below(100)
            var request = RequestSpec(
                organization: organization, project: project, user: nil, app: 0, workflow: nil, consumer: nil,
                pinned: nil, expectedCredential: 0, expectedStage: .organizationScope)
            if draw < 35 {
                // 20 % exact assignment, 15 % the workflow's wildcard.
                let workflow = random.below(Self.workflowsPerOrganization)
                let exact = draw < 20
                let assignment = assignments[
                    (organization * Self.workflowsPerOrganization + workflow) * 2 + (exact ? 0 : 1)]
                request.app = assignment.app
                request.workflow = assignment.workflow
                request.consumer = exact ? "step-0" : "step-1"
                request.expectedCredential = assignment.credential
                request.expectedStage = exact ? .exactAssignment : .wildcardAssignment
            } else if draw < 45 {
                // 10 % pinned to the organization.
                let app = random.below(apps)
                let head = organizationHead[organization * apps + app]
                guard head >= 0 else { continue }
                request.app = app
                request.pinned = .organization
                request.expectedCredential = Int(head)
                request.expectedStage = .pinnedScope
            } else if draw < 55 {
                // 10 % pinned to the run's user.
                let user = random.below(users)
                let app = random.below(apps)
                let head = userHead[(organization * users + user) * apps + app]
                guard head >= 0 else { continue }
                request.user = user
                request.app = app
                request.pinned = .user
                request.expectedCredential = Int(head)
                request.expectedStage = .pinnedScope
            } else if draw < 80 {
                // 25 % found at the run's project.
                let app = random.below(apps)
                let head = projectHead[(organization * projects + project) * apps + app]
                guard head >= 0 else { continue }
                request.app = app
                request.expectedCredential = Int(head)
                request.expectedStage = .projectScope
            } else {
                // 20 % not at the project: falls back to the organization.
                let app = random.below(apps)
                let head = organizationHead[organization * apps + app]
                guard projectHead[(organization * projects + project) * apps + app] < 0, head >= 0 else { continue }
                request.app = app
                request.expectedCredential = Int(head)
                request.expectedStage = .organizationScope
            }
            requests.append(request)
        }
        self.requests = requests
        pointReads = (0..<Self.pointReadCount).map { _ in Int32(random.below(size)) }
    }

    // MARK: Names

    public static func organizationSlug(_ organization: Int) -> String { "acme-\(organization)" }
    public static func projectSlug(_ project: Int) -> String { "web-\(project)" }
    public static func userHandle(organization: Int, user: Int) -> String { "user-\(organization)-\(user)" }

    // MARK: Credentials

    /// Credential `index` of the dataset, with its field values.
    public func credential(_ index: Int) -> CredentialSpec {
        let place = meta[index]
        var random = SplitMix(seed: seed ^ 0xF1E1_D5, item: UInt64(index))
        return Self.draw(
            index: index, organization: Int(place.organization), scope: place.scope, owner: Int(place.owner),
            app: Int(place.app), isDefault: place.isDefault, slug: "c-\(index)", random: &random)
    }

    /// An extra credential for the commit workloads: a new project-scope api token (the most
    /// common write), never a default, with a slug no other extra credential has. Its app key
    /// (`x-` and a dataset app) is one no request asks for, so that commits never change
    /// what the dataset's requests resolve to.
    public func extraCredential(_ number: Int) -> CredentialSpec {
        var random = SplitMix(seed: seed ^ 0xE7_7A, item: UInt64(number))
        let organization = random.below(organizationCount)
        let project = random.below(Self.projectsPerOrganization)
        let app = random.below(Self.appKeys.count)
        var spec = Self.draw(
            index: size + number, organization: organization, scope: .project, owner: project, app: app,
            isDefault: false, slug: "x-\(number)", random: &random, forcedType: .apiToken)
        spec.label = "Extra token \(number)"
        spec.appKey = "x-" + spec.appKey
        return spec
    }

    private static func draw(
        index: Int, organization: Int, scope: CredentialScopeKind, owner: Int, app: Int, isDefault: Bool, slug: String,
        random: inout SplitMix, forcedType: CredentialTypeCode? = nil
    ) -> CredentialSpec {
        let type: CredentialTypeCode
        if let forcedType {
            type = forcedType
        } else {
            let draw = random.below(100)
            type =
                draw < 38
                ? .apiToken
                : draw < 48
                    ? .apiKeyPair
                    : draw < 54
                        ? .usernamePassword
                        : draw < 60
                            ? .smtp
                            : draw < 80 ? .oauth2 : draw < 85 ? .sshKey : .custom
        }
        let appKey = appKeys[app]
        let environments = ["production", "staging", "development", "ci", "analytics", "backup"]
        let label =
            "\(appKey.prefix(1).uppercased())\(appKey.dropFirst()) \(environments[random.below(environments.count)]) \(index)"
        return CredentialSpec(
            index: index, organization: organization, scope: scope, owner: owner, app: app, appKey: appKey, slug: slug,
            label: label, type: type, category: app < 2 || app >= 37 ? 1 : 5, isDefault: isDefault,
            fields: fields(of: type, random: &random))
    }

    /// Realistic field values: token prefixes and lengths as providers issue them, OAuth
    /// access tokens as JWTs of a few hundred bytes, 3 KiB OpenSSH private keys.
    static func fields(of type: CredentialTypeCode, random: inout SplitMix) -> [Field] {
        func text(_ string: String) -> [UInt8] { Array(string.utf8) }
        switch type {
        case .apiToken:
            // Prefixes and lengths as the providers issue them: OpenAI project keys, Anthropic,
            // GitHub, Slack bot tokens, GitLab, SendGrid, generic personal access tokens.
            let shapes: [(prefix: String, length: ClosedRange<Int>)] = [
                ("sk-proj-", 156...156), ("sk-ant-api03-", 95...95), ("ghp_", 36...36), ("xoxb-", 50...60),
                ("glpat-", 20...20), ("SG.", 66...66), ("pat_", 40...64),
            ]
            let shape = shapes[random.below(shapes.count)]
            return [Field("token", text(shape.prefix) + random.text(random.within(shape.length)))]
        case .apiKeyPair:
            return [
                Field("api_key", text("AKIA") + random.text(random.within(16...28))),
                Field("api_secret", random.text(random.within(40...64), from: SplitMix.base64)),
            ]
        case .usernamePassword:
            return [
                Field("password", random.text(random.within(16...32))),
                Field("username", text("svc-") + random.text(8, from: SplitMix.hex)),
            ]
        case .smtp:
            return [
                Field("encryption", text("starttls")),
                Field("host", text("smtp.mail-\(random.below(100)).example.com")),
                Field("password", random.text(24)),
                Field("port", text(["25", "465", "587"][random.below(3)])),
                Field("username", text("mailer-") + random.text(8, from: SplitMix.hex)),
            ]
        case .oauth2:
            let jwtBody = random.text(random.within(150...1100), from: SplitMix.base64)
            return [
                Field("access_token", text("eyJhbGciOiJSUzI1NiJ9.") + jwtBody + text(".") + random.text(43)),
                Field("client_id", random.text(32, from: SplitMix.hex)),
                Field("client_secret", random.text(40)),
                Field("expires_at", text("\(1_767_225_600 + random.below(10_000_000))")),
                Field("refresh_token", random.text(random.within(64...200))),
                Field(
                    "scopes",
                    text(
                        ["read write", "repo user:email", "channels:read chat:write", "offline_access openid"][
                            random.below(4)])),
            ]
        case .sshKey:
            var key = text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
            let body = random.text(3072, from: SplitMix.base64)
            for start in stride(from: 0, to: body.count, by: 70) {
                key += body[start..<Swift.min(start + 70, body.count)]
                key.append(0x0A)
            }
            key += text("-----END OPENSSH PRIVATE KEY-----\n")
            return [
                Field("private_key", key),
                Field(
                    "public_key",
                    text("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI") + random.text(43, from: SplitMix.base64)
                        + text(" deploy@ci")),
            ]
        case .custom:
            var json = text("{")
            for key in 0..<random.within(3...8) {
                if key > 0 { json += text(",") }
                json += text("\"key_\(key)\":\"") + random.text(random.within(10...60)) + text("\"")
            }
            json += text("}")
            return [Field("json", json)]
        }
    }
}

/// Where a credential of the dataset lives.
public struct CredentialMeta: Sendable {
    public var organization: Int32
    public var scope: CredentialScopeKind
    /// The project or user index within the organization; 0 at organization scope.
    public var owner: UInt8
    public var app: UInt8
    public var isDefault: Bool
}

/// Organization, project or user scope; the raw values are Coffer's `CredentialScope`'s.
public enum CredentialScopeKind: UInt8, Sendable, Codable {
    case organization = 1
    case project = 2
    case user = 3
}

/// The credential types; the raw values are Coffer's `CredentialType`'s.
public enum CredentialTypeCode: UInt8, Sendable, CaseIterable {
    case apiToken = 1
    case apiKeyPair, usernamePassword, smtp, oauth2, sshKey, custom
}

/// The steps of resolution; the raw values are Coffer's `ResolutionStage`'s.
public enum Stage: UInt8, Sendable {
    case explicitSelection = 1
    case exactAssignment, wildcardAssignment, pinnedScope, projectScope, organizationScope
}

/// One field value.
public struct Field: Sendable {
    public var name: String
    public var value: [UInt8]

    public init(_ name: String, _ value: [UInt8]) {
        self.name = name
        self.value = value
    }
}

/// One credential with its values.
public struct CredentialSpec: Sendable {
    public var index: Int
    public var organization: Int
    public var scope: CredentialScopeKind
    public var owner: Int
    public var app: Int
    public var appKey: String
    public var slug: String
    public var label: String
    public var type: CredentialTypeCode
    /// Coffer's `CredentialCategory` raw value.
    public var category: UInt8
    public var isDefault: Bool
    /// In field-name order (the order Coffer encodes them in).
    public var fields: [Field]
}

/// An assignment: a workflow's consumer (or `*`) pinned to a credential for an app.
public struct AssignmentSpec: Sendable {
    public var organization: Int
    public var workflow: String
    public var consumer: String
    public var app: Int
    public var credential: Int
}

/// A resolution request and the answer every engine must give.
public struct RequestSpec: Sendable {
    public var organization: Int
    public var project: Int
    public var user: Int?
    public var app: Int
    public var workflow: String?
    public var consumer: String?
    public var pinned: CredentialScopeKind?
    public var expectedCredential: Int
    public var expectedStage: Stage
}

/// A simple binary encoding of field values, for the SQL baselines' `fields` column:
/// `u8 count || (u8 name length || name || u32 value length || value)*`, little-endian.
public enum FieldCoding {
    public static func encode(_ fields: [Field]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(fields.count)]
        for field in fields {
            let name = Array(field.name.utf8)
            bytes.append(UInt8(name.count))
            bytes += name
            withUnsafeBytes(of: UInt32(field.value.count).littleEndian) { bytes += $0 }
            bytes += field.value
        }
        return bytes
    }

    /// Decodes into (name, value) pairs; `nil` when malformed.
    public static func decode(_ bytes: UnsafeRawBufferPointer) -> [(name: String, value: [UInt8])]? {
        guard bytes.count >= 1 else { return nil }
        var fields: [(name: String, value: [UInt8])] = []
        let count = Int(bytes[0])
        fields.reserveCapacity(count)
        var at = 1
        for _ in 0..<count {
            guard at < bytes.count else { return nil }
            let nameCount = Int(bytes[at])
            at += 1
            guard at + nameCount + 4 <= bytes.count else { return nil }
            let name = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<at + nameCount]), as: UTF8.self)
            at += nameCount
            let valueCount =
                Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
            at += 4
            guard at + valueCount <= bytes.count else { return nil }
            fields.append((name, Array(bytes[at..<at + valueCount])))
            at += valueCount
        }
        return fields
    }
}
