import Foundation
import GridsyncFFI

/// Who asked for a sync: the worker's tap, or a background task.
enum SyncOrigin { case user, background }

/// How a sync ended, as its caller must react.
enum SyncOutcome: Sendable {
    case synced(SyncReport)
    /// The network failed: the background task reschedules; the worker may tap again.
    case retryLater(String)
    /// Stopped (the worker's cancel, or the task's expiration): what completed is kept.
    case cancelled(String)
    /// Not enrolled, or credentials refused: show enrolment.
    case needsEnrolment(String)
    /// Revoked; with `wiped` the data is erased: delete key and file, return to enrolment.
    case revoked(wiped: Bool, String)
    case failed(String)

    init(_ error: Error) {
        guard let error = error as? GridsyncError else { self = .failed(error.localizedDescription); return }
        switch error {
        case .Network(let retryable, _, _, let zh): self = retryable ? .retryLater(zh) : .failed(zh)
        case .Cancelled(_, let zh): self = .cancelled(zh)
        case .NotEnrolled(_, _, let zh), .Unauthorized(_, _, let zh): self = .needsEnrolment(zh)
        case .Revoked(let wiped, _, let zh): self = .revoked(wiped: wiped, zh)
        default: self = .failed(AppModel.describe(error))
        }
    }
}

/// The one way the app syncs, shared by the screen and the background tasks (the same
/// rules as the Android demo's `SyncCoordinator`, tested there on the JVM):
/// - a sync asked for while one runs joins it instead of starting a second;
/// - `cancel()` stops the sync under way, whoever started it (a task's expiration, a tap);
/// - one retry policy: background syncs make no retries of their own (the task is
///   rescheduled), a tapped sync retries twice, quickly.
actor SyncCoordinator {
    private let store: GridStore
    private let options: @Sendable () async -> CenterOptions
    private var running: Task<SyncOutcome, Never>?

    init(store: GridStore, options: @escaping @Sendable () async -> CenterOptions) {
        self.store = store
        self.options = options
    }

    var isRunning: Bool { running != nil }

    func sync(_ origin: SyncOrigin, progress: SyncProgressListener? = nil) async -> SyncOutcome {
        if let running { return await running.value }
        var settings = await options()
        switch origin {
        case .background:
            settings.retries = 0
        case .user:
            settings.retries = 2
            settings.backoffBaseMs = 250
            settings.backoffMaxMs = 2_000
        }
        let store = self.store
        let chosen = settings
        // Cancelling this task cancels the sync within a fraction of a second (uniffi
        // drops the future, which stops the request or the wait it is in).
        let task = Task<SyncOutcome, Never> {
            do {
                return .synced(try await store.syncAsync(options: chosen, progress: progress))
            } catch {
                return SyncOutcome(error)
            }
        }
        running = task
        let outcome = await task.value
        running = nil
        return outcome
    }

    func cancel() {
        running?.cancel()
    }
}
