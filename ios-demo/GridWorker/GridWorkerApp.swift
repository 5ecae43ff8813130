import BackgroundTasks
import GridsyncFFI
import SwiftUI

@main
struct GridWorkerApp: App {
    @StateObject private var model: AppModel

    init() {
        // Without its store the app cannot work: fail loudly during development.
        let model = try! AppModel()
        _model = StateObject(wrappedValue: model)
        BackgroundSync.register(store: model.store, options: { model.options })
    }

    var body: some Scene {
        WindowGroup { RootView().environmentObject(model) }
    }
}

/// Sync in the background through BGTaskScheduler when iOS grants time and network.
enum BackgroundSync {
    static let identifier = "cn.gridsync.demo.sync"

    static func register(store: GridStore, options: @escaping @MainActor () -> CenterOptions) {
        BGTaskScheduler.shared.register(forTaskWithIdentifier: identifier, using: nil) { task in
            schedule()
            let cancel = SyncCancel()
            task.expirationHandler = { cancel.cancel() }
            Task.detached {
                let centerOptions = await options()
                let ok = (try? store.sync(options: centerOptions, progress: nil, cancel: cancel)) != nil
                task.setTaskCompleted(success: ok)
            }
        }
    }

    static func schedule() {
        let request = BGProcessingTaskRequest(identifier: identifier)
        request.requiresNetworkConnectivity = true
        request.earliestBeginDate = Date(timeIntervalSinceNow: 15 * 60)
        try? BGTaskScheduler.shared.submit(request)
    }
}
