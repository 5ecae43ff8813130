// AsyncStream adapters over the generated Swift bindings, shipped in the GridsyncFFI
// package (bindings/scripts/build-ios.sh copies this file beside the generated code), so
// that no app writes them again. Not compiled on this project's Linux CI (no Swift
// toolchain); kept to the bindings' exported API.
import Foundation

/// Forwards store changes into a continuation.
private final class ChangeForwarder: ChangeListener, @unchecked Sendable {
    let continuation: AsyncStream<ChangeEvent>.Continuation
    init(_ continuation: AsyncStream<ChangeEvent>.Continuation) { self.continuation = continuation }
    func onChange(event: ChangeEvent) { continuation.yield(event) }
}

/// Forwards sync progress into a continuation.
private final class ProgressForwarder: SyncProgressListener, @unchecked Sendable {
    let continuation: AsyncThrowingStream<SyncUpdate, Error>.Continuation
    init(_ continuation: AsyncThrowingStream<SyncUpdate, Error>.Continuation) { self.continuation = continuation }
    func onProgress(progress: Progress) { continuation.yield(.progressed(progress)) }
}

/// A sync's progress, then its end.
public enum SyncUpdate: Sendable {
    case progressed(Progress)
    case finished(SyncReport)
}

extension GridStore {
    /// What changed in this store, as it happens (records written here, a sync finished or
    /// failed, the store wiped). Ending the iteration (or its task) unsubscribes.
    public func changes() -> AsyncStream<ChangeEvent> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let subscription = self.subscribe(listener: ChangeForwarder(continuation))
            continuation.onTermination = { _ in subscription.cancel() }
        }
    }

    /// Runs a sync and yields its progress, then `.finished`; a failed sync throws its
    /// `GridsyncError`. Cancelling the iterating task cancels the sync within a fraction
    /// of a second.
    public func syncUpdates(options: CenterOptions) -> AsyncThrowingStream<SyncUpdate, Error> {
        AsyncThrowingStream(bufferingPolicy: .bufferingNewest(16)) { continuation in
            let task = Task {
                do {
                    let report = try await self.syncAsync(options: options, progress: ProgressForwarder(continuation))
                    continuation.yield(.finished(report))
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}
