import Coffer
import CofferReferenceModel

/// The keys of the vault file as ``FuzzTarget/operationSequence`` predicts them: its keyslots
/// and its data-key epochs (F-SLOT, F-COMPACT). They are the file's, not the credential
/// rules', so they live beside ``ReferenceModel`` rather than in it; a step predicts its
/// outcome the same way.
struct FileKeyModel {
    typealias Outcome<Value> = Prediction<FileKeyModel, Value>

    /// Keyslot ids and the vocabulary secret each holds.
    var slots: [(id: UInt16, secret: Int)] = [(1, 0)]
    /// The key epochs in the file, oldest first: the first one a new vault has.
    var epochs: [UInt32] = [1]

    func addKeyslot(secret: Int) -> Outcome<UInt16> {
        // F-SLOT: at most 8 slots; a new slot takes the next id.
        guard slots.count < 8 else { return .refused(.invalidInput) }
        // A key file or passphrase a slot holds already is refused: a second slot would
        // outlive its removal.
        if slots.contains(where: { $0.secret == secret }) {
            return .refused(.invalidInput)
        }
        let expected = (slots.map(\.id).max() ?? 0) + 1
        return .accepted { keys, id in
            guard id == expected else { return "the new keyslot has id \(id), not \(expected)" }
            keys.slots.append((id, secret))
            return nil
        }
    }

    func removeKeyslot(id: UInt16) -> Outcome<Void> {
        guard let index = slots.firstIndex(where: { $0.id == id }) else { return .refused(.notFound) }
        guard slots.count > 1 else { return .refused(.invalidInput) }
        return .accepted { keys, _ in
            keys.slots.remove(at: index)
            return nil
        }
    }

    func rotateDataKey() -> Outcome<UInt32> {
        let expected = epochs.last! + 1
        return .accepted { keys, epoch in
            guard epoch == expected else { return "the data-key rotation started epoch \(epoch), not \(expected)" }
            keys.epochs.append(epoch)
            return nil
        }
    }

    /// F-COMPACT: without re-encryption every epoch is carried; with it, every epoch in the
    /// file is retired and one new epoch, later than all of them, is carried.
    func compact(reencrypt: Bool) -> Outcome<CompactionReport> {
        let epochs = self.epochs
        return .accepted { keys, report in
            let retired = reencrypt ? epochs : []
            let current = reencrypt ? epochs.last! + 1 : epochs.last!
            guard report.retiredEpochs == retired, report.currentEpoch == current else {
                return
                    "compaction retired \(report.retiredEpochs) and is at epoch \(report.currentEpoch), not \(retired) and \(current)"
            }
            if reencrypt { keys.epochs = [current] }
            return nil
        }
    }
}
