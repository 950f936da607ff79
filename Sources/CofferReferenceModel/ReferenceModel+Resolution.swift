import CofferErrors
import CofferModel

/// Resolution (OPS-RESOLVE), written from the spec's steps.
extension ReferenceModel {
    /// A resolution request in the model's terms.
    package struct Request {
        package var organization: OrganizationID
        package var app: String
        package var project: ProjectID?
        package var user: UserID?
        package var selection: CredentialID?
        package var pinned: CredentialScope?
        package var consumer: AssignmentTarget?

        package init(
            organization: OrganizationID, app: String, project: ProjectID? = nil, user: UserID? = nil,
            selection: CredentialID? = nil, pinned: CredentialScope? = nil, consumer: AssignmentTarget? = nil
        ) {
            self.organization = organization
            self.app = app
            self.project = project
            self.user = user
            self.selection = selection
            self.pinned = pinned
            self.consumer = consumer
        }

        /// The same request for the engine.
        package var engineRequest: ResolutionRequest {
            ResolutionRequest(
                appKey: app, context: RunContext(organization: organization, project: project, user: user),
                selection: selection, pinnedScope: pinned, consumer: consumer)
        }
    }

    /// What a resolution gives: the instance, the step that chose it and its version, or the
    /// error code with the candidates it lists (the active instances of an ambiguous scope).
    package enum Resolved: Equatable, CustomStringConvertible {
        case credential(CredentialID, ResolutionStage, version: UInt32)
        case failed(CofferError.Code, candidates: Set<CredentialID> = [])

        /// The engine's answer in the same terms. A candidate is listed as `<id> (<app>/<slug>,
        /// <scope> <owner slug>)`, the id first (OPS-SELECTOR).
        package init(_ resolution: Resolution) {
            switch resolution {
            case .resolved(let credential, _):
                self = .credential(credential.id, credential.stage, version: credential.version)
            case .failed(let error, _):
                let candidates = error.candidates.compactMap { $0.split(separator: " ").first.map(String.init) }
                self = .failed(error.code, candidates: Set(candidates.compactMap { CredentialID($0) }))
            }
        }

        package var description: String {
            switch self {
            case .credential(let id, let stage, let version): "\(id) at \(stage.word), version \(version)"
            case .failed(let code, let candidates) where candidates.isEmpty: "\(code)"
            case .failed(let code, let candidates): "\(code) among \(candidates.sorted())"
            }
        }
    }

    /// OPS-RESOLVE, written from the spec's steps.
    package func resolve(_ request: Request) -> Resolved {
        guard organization(id: request.organization) != nil else { return .failed(.notFound) }
        if let project = request.project {
            guard let owner = organizations.values.first(where: { $0.projects.values.contains(project) }) else {
                return .failed(.notFound)
            }
            guard owner.id == request.organization else { return .failed(.invalidInput) }
        }
        if let user = request.user, !users.values.contains(user) { return .failed(.notFound) }
        if let user = request.user, !isMember(user, of: request.organization) { return .failed(.invalidInput) }

        // 1. Explicit selection.
        if let selection = request.selection {
            guard let index = live(selection) else { return .failed(.notFound) }
            return pick(index, request, .explicitSelection)
        }
        // 2. Assignment: the exact consumer, then `*`.
        if var consumer = request.consumer {
            if consumer.consumer != AssignmentTarget.everyConsumer,
                let id = assignments[
                    AssignmentKey(organization: request.organization, target: consumer, app: request.app)]
            {
                return pick(live(id)!, request, .exactAssignment)
            }
            // OPS-RESOLVE-2: a target no assignment can name is refused.
            guard (try? consumer.check()) != nil else { return .failed(.invalidInput) }
            consumer.consumer = AssignmentTarget.everyConsumer
            if let id = assignments[
                AssignmentKey(organization: request.organization, target: consumer, app: request.app)]
            {
                return pick(live(id)!, request, .wildcardAssignment)
            }
        }
        // 3. A pinned scope, alone.
        if let pinned = request.pinned {
            let owner: Owner
            switch pinned {
            case .organization: owner = .organization
            case .project:
                guard let project = request.project else { return .failed(.credentialMissing) }
                owner = .project(project)
            case .user:
                guard let user = request.user else { return .failed(.noUserActor) }
                owner = .user(user)
            }
            return attempt(request, owner, .pinnedScope) ?? .failed(.credentialMissing)
        }
        // 4. The project, 5. the organization, 6. missing.
        if let project = request.project, let found = attempt(request, .project(project), .projectScope) {
            return found
        }
        return attempt(request, .organization, .organizationScope) ?? .failed(.credentialMissing)
    }

    /// OPS-RESOLVE-PICKED: a selected or assigned instance is used only if the run can see it,
    /// it is of the app, and it is active.
    func pick(_ index: Int, _ request: Request, _ stage: ResolutionStage) -> Resolved {
        let credential = credentials[index]
        // Another organization's credential is answered as one that does not exist.
        if credential.organization != request.organization { return .failed(.notFound) }
        switch credential.owner {
        case .organization: break
        case .project(let project): if project != request.project { return .failed(.notVisible) }
        case .user(let user):
            guard let runUser = request.user else { return .failed(.noUserActor) }
            if user != runUser { return .failed(.notVisible) }
        }
        if credential.app != request.app { return .failed(.wrongApp) }
        if credential.isRevoked { return .failed(.credentialRevoked) }
        return .credential(credential.id, stage, version: credential.version)
    }

    /// OPS-RESOLVE-SCOPE: the only active instance, or the default among several; several
    /// without a default is ambiguous, listing them all; none is `nil` (the step is skipped).
    func attempt(_ request: Request, _ owner: Owner, _ stage: ResolutionStage) -> Resolved? {
        let active = group(request.organization, request.app, owner).filter { !credentials[$0].isRevoked }
        if active.isEmpty { return nil }
        if active.count == 1 {
            return .credential(credentials[active[0]].id, stage, version: credentials[active[0]].version)
        }
        guard let chosen = active.first(where: { credentials[$0].isDefault }) else {
            return .failed(.ambiguous, candidates: Set(active.map { credentials[$0].id }))
        }
        return .credential(credentials[chosen].id, stage, version: credentials[chosen].version)
    }
}
