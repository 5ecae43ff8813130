import Foundation
import GridsyncFFI
import Network

/// The app's state over the store. Store calls run off the main thread; results are
/// published on it. A store subscription refreshes the lists after edits and syncs.
@MainActor
final class AppModel: ObservableObject {
    @Published var enrolled: Bool
    @Published var households: [HouseholdRow] = []
    @Published var incidents: [IncidentRow] = []
    @Published var conflicted: [ConflictedRow] = []
    @Published var pending: UInt64 = 0
    /// 上次同步 and when, or 尚未同步.
    @Published var lastSync = ""
    /// Photos waiting for upload (each photo and its thumbnail are two blobs).
    @Published var pendingPhotos = PendingPhotos(photos: 0, blobs: 0, bytes: 0)
    @Published var syncing = false
    /// The records' part of the sync, then (`photoProgress`) the photos' part by bytes.
    @Published var progress: Double?
    @Published var photoProgress: Double?
    /// The latest progress while syncing, for `SyncLine`.
    @Published var syncProgress: GridsyncFFI.Progress?
    @Published var message: String?
    /// Whether a network is there (the offline banner: offline for days is normal).
    @Published var online = true
    /// The center revoked this device with a wipe: key and file are gone; enrol again.
    @Published var wiped = false

    let store: GridStore
    /// The one way this app syncs, shared with the background tasks.
    let coordinator: SyncCoordinator
    private let work = DispatchQueue(label: "cn.gridsync.store", qos: .userInitiated)
    private var subscription: Subscription?
    private let path = NWPathMonitor()

    var area: String? {
        get { UserDefaults.standard.string(forKey: "area") }
        set { UserDefaults.standard.set(newValue, forKey: "area") }
    }

    var options: CenterOptions {
        CenterOptions(caCertificate: UserDefaults.standard.string(forKey: "ca"), allowInsecureLoopback: false)
    }

    init() throws {
        store = try GridStore.open(path: try KeychainKey.databaseURL.path, key: try KeychainKey.databaseKey())
        coordinator = SyncCoordinator(store: store) {
            CenterOptions(caCertificate: UserDefaults.standard.string(forKey: "ca"), allowInsecureLoopback: false)
        }
        enrolled = UserDefaults.standard.string(forKey: "area") != nil
        subscription = store.subscribe(listener: Refresher(model: self))
        path.pathUpdateHandler = { [weak self] update in
            Task { @MainActor in self?.online = update.status == .satisfied }
        }
        path.start(queue: DispatchQueue(label: "cn.gridsync.network"))
        refresh()
    }

    deinit {
        path.cancel()
    }

    /// Revoked with a wipe: the store erased its data as ordered; the key and the file go
    /// too, and the app returns to enrolment (a new store is opened).
    func resetAfterWipe() {
        BackgroundSync.cancelAll()
        UserDefaults.standard.removeObject(forKey: "area")
        UserDefaults.standard.removeObject(forKey: "ca")
        KeychainKey.removeWipedDatabase()
        wiped = true
    }

    /// Runs `body` on the store queue and hands its result to `done` on the main actor;
    /// a gridsync error becomes the message shown.
    func run<T>(_ body: @escaping (GridStore) throws -> T, done: @escaping (T) -> Void = { _ in }) {
        let store = self.store
        work.async {
            do {
                let value = try body(store)
                Task { @MainActor in done(value) }
            } catch {
                Task { @MainActor in self.message = AppModel.describe(error) }
            }
        }
    }

    /// What the worker reads: the Chinese message every gridsync error carries.
    nonisolated static func describe(_ error: Error) -> String {
        guard let error = error as? GridsyncError else { return error.localizedDescription }
        switch error {
        case .InvalidInput(_, _, _, let zh), .NotFound(_, _, _, let zh), .AlreadyExists(_, _, _, let zh),
             .Network(_, _, _, let zh):
            return zh
        case .IllegalStep(_, _, _, _, let zh), .StepNotYours(_, _, _, _, let zh), .WrongKind(_, _, _, _, let zh):
            return zh
        case .Unauthorized(_, _, let zh), .Revoked(_, _, let zh), .Protocol(_, _, let zh),
             .Storage(_, _, let zh), .NotEnrolled(_, _, let zh):
            return zh
        case .OutOfScope(_, _, _, let zh), .PhotoQuotaFull(_, _, _, let zh):
            return zh
        case .WrongKey(_, let zh), .StorageFull(_, let zh), .Cancelled(_, let zh):
            return zh
        }
    }

    func refresh() {
        guard let area else { return }
        let township = String(area.prefix(12))
        run({ store in
            (try store.listHouseholds(areaPrefix: area, after: nil, limit: 100).items,
             try store.listIncidents(areaPrefix: township, filter: .all, after: nil, limit: 100).items,
             try store.listConflicted(areaPrefix: township, after: nil, limit: 100).items,
             try store.syncStatus(),
             try store.pendingPhotos())
        }) { households, incidents, conflicted, status, pendingPhotos in
            self.households = households
            self.incidents = incidents
            self.conflicted = conflicted
            self.pending = status.pendingChanges
            self.lastSync = SyncLine.lastSync(status.lastSuccess)
            self.pendingPhotos = pendingPhotos
        }
    }

    /// Attaches photos to an incident or visit, each re-encoded by the store off the main
    /// thread (`attachPhotoAsync`); they travel with the next sync, after the records.
    /// Returns the reasons of those not kept (待上传照片已满, not a JPEG/PNG).
    func attach(_ drafts: [DraftPhoto], to recordId: String) async -> [String] {
        var refused: [String] = []
        for draft in drafts {
            do {
                _ = try await store.attachPhotoAsync(recordId: recordId, photo: draft.data,
                                                     caption: draft.caption, takenAt: draft.takenAt)
            } catch {
                refused.append(AppModel.describe(error))
            }
        }
        return refused
    }

    /// Shows one message for photos not kept.
    func tellRefused(_ refused: [String]) {
        guard let first = refused.first else { return }
        message = String(format: NSLocalizedString("photos_refused %lld %@", comment: ""), refused.count, first)
    }

    /// Photo or thumbnail `hash` of `recordId`: from this phone when `here` (read off the
    /// main thread), else downloaded from the center and kept in the photo cache. Throws a
    /// `GridsyncError` offline; cancelled with the calling task.
    func photoData(recordId: String, hash: String, here: Bool) async throws -> Data {
        let store = self.store
        if here, let data = try await Task.detached(priority: .userInitiated, operation: {
            try store.photoBytes(hash: hash)
        }).value {
            return data
        }
        return try await store.fetchPhotoAsync(recordId: recordId, hash: hash, options: options)
    }

    func enrol(url: String, code: String, ca: String) {
        UserDefaults.standard.set(ca.isEmpty ? nil : ca, forKey: "ca")
        let options = self.options
        run({ try $0.enrol(centerUrl: url, code: code, deviceName: "iPhone", options: options) }) { enrolment in
            self.didEnrol(enrolment)
        }
    }

    private func didEnrol(_ enrolment: Enrolment) {
        area = enrolment.scope.first
        enrolled = true
        BackgroundSync.schedule()
        refresh()
    }

    /// Enrols with a scanned link: the center's CA is fetched and checked against the link's hash.
    func enrolFromLink(_ link: String) {
        var options = self.options
        options.caCertificate = nil
        Task {
            do {
                let enrolment = try await store.enrolFromLinkAsync(link: link, deviceName: "iPhone", options: options)
                didEnrol(enrolment)
            } catch {
                message = AppModel.describe(error)
            }
        }
    }

    func sync() {
        guard !syncing else { return }
        syncing = true
        progress = nil
        photoProgress = nil
        syncProgress = nil
        let listener = ProgressRelay(model: self)
        Task {
            // Joins a background task's sync if one runs: never two at once.
            let outcome = await coordinator.sync(.user, progress: listener)
            syncing = false
            syncProgress = nil
            photoProgress = nil
            switch outcome {
            case .synced: break
            case .revoked(wiped: true, _): resetAfterWipe(); return
            case .retryLater(let why), .cancelled(let why), .needsEnrolment(let why), .revoked(_, let why), .failed(let why):
                message = why
            }
            refresh()
        }
    }

    /// Stops the sync under way, the worker's or a background task's.
    func cancelSync() {
        Task { await coordinator.cancel() }
    }
}

/// Forwards store changes to the model.
final class Refresher: ChangeListener, @unchecked Sendable {
    private weak var model: AppModel?
    init(model: AppModel) { self.model = model }
    func onChange(event: ChangeEvent) {
        Task { @MainActor [weak model] in
            switch event {
            case .syncFailed(_, let messageZh): model?.message = messageZh
            case .wiped: model?.resetAfterWipe(); return
            default: break
            }
            model?.refresh()
        }
    }
}

/// Forwards sync progress to the model's progress bars and sync line.
final class ProgressRelay: SyncProgressListener, @unchecked Sendable {
    private weak var model: AppModel?
    init(model: AppModel) { self.model = model }
    func onProgress(progress: GridsyncFFI.Progress) {
        let fraction = SyncLine.recordFraction(progress)
        let photos = SyncLine.photoFraction(progress)
        Task { @MainActor [weak model] in
            model?.progress = fraction
            model?.photoProgress = photos
            model?.syncProgress = progress
        }
    }
}
