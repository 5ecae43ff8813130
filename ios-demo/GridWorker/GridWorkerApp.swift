import BackgroundTasks
import GridsyncFFI
import os
import SwiftUI

/// gridsync's log lines in OSLog (Console.app, `log stream`). They hold ids, codes and
/// counts, never names, ID numbers or phone numbers, so they are logged as public.
final class OSLogSink: LogSink, @unchecked Sendable {
    private let logger = Logger(subsystem: "cn.gridsync.demo", category: "gridsync")

    func log(level: LogLevel, target: String, message: String) {
        let type: OSLogType = switch level {
        case .error: .error
        case .warn: .default
        case .info: .info
        case .debug, .trace: .debug
        }
        logger.log(level: type, "\(target, privacy: .public): \(message, privacy: .public)")
    }
}

@main
struct GridWorkerApp: App {
    @State private var launch = Launch.start()

    init() {
        // gridsync's log lines in the unified log (ids and codes, never personal data).
        setLogSink(sink: OSLogSink(), maxLevel: .info)
        // Registered once, before launch ends, as iOS requires; the tasks find the
        // coordinator of whatever store is open when they run.
        BackgroundSync.register()
    }

    var body: some Scene {
        WindowGroup {
            switch launch {
            case .ready(let model):
                RootView().environmentObject(model)
                    .onReceive(model.$wiped) { wiped in
                        if wiped { launch = Launch.start() } // key and file gone: enrol again
                    }
            case .keyLost:
                KeyLostView {
                    KeychainKey.setAsideLostDatabase()
                    launch = Launch.start()
                }
            case .unavailable(let reason):
                // The Keychain is locked (before the first unlock after a restart): wait.
                Text(reason).padding()
            }
        }
    }
}

/// What the app can open at launch.
enum Launch {
    case ready(AppModel)
    /// The Keychain lost the database key: the store is not opened over the file.
    case keyLost
    case unavailable(String)

    @MainActor static func start() -> Launch {
        do {
            let model = try AppModel()
            BackgroundSync.coordinator = model.coordinator
            return .ready(model)
        } catch KeychainKey.Failure.lost {
            BackgroundSync.coordinator = nil
            return .keyLost
        } catch {
            BackgroundSync.coordinator = nil
            return .unavailable(AppModel.describe(error))
        }
    }
}

/// Sync in the background, iOS's way: a BGAppRefreshTask every half hour or so (short:
/// new records both ways), and a BGProcessingTask while charging with a network (a first
/// download, photos). Both go through the app's one `SyncCoordinator`; an expiring task
/// cancels the sync, which stops within a second.
enum BackgroundSync {
    static let refresh = "cn.gridsync.demo.refresh"
    static let processing = "cn.gridsync.demo.processing"
    @MainActor static var coordinator: SyncCoordinator?

    static func register() {
        for identifier in [refresh, processing] {
            BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
                schedule()
                let work = Task { @MainActor in
                    guard let coordinator = BackgroundSync.coordinator else {
                        task.setTaskCompleted(success: true)
                        return
                    }
                    let outcome = await coordinator.sync(.background)
                    if case .synced = outcome { task.setTaskCompleted(success: true) } else { task.setTaskCompleted(success: false) }
                }
                task.expirationHandler = {
                    Task { @MainActor in await BackgroundSync.coordinator?.cancel() }
                    work.cancel()
                }
            }
        }
    }

    static func schedule() {
        let refreshing = BGAppRefreshTaskRequest(identifier: refresh)
        refreshing.earliestBeginDate = Date(timeIntervalSinceNow: 30 * 60)
        try? BGTaskScheduler.shared.submit(refreshing)
        let processingRequest = BGProcessingTaskRequest(identifier: processing)
        processingRequest.requiresNetworkConnectivity = true
        processingRequest.requiresExternalPower = true
        try? BGTaskScheduler.shared.submit(processingRequest)
    }

    static func cancelAll() {
        BGTaskScheduler.shared.cancelAllTaskRequests()
    }
}
