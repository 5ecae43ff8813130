import GridsyncFFI
import ImageIO
import PhotosUI
import SwiftUI
import UIKit
import UniformTypeIdentifiers

/// A photo the worker took or picked, with the caption typed for it, not attached yet
/// (on the report form the incident does not exist until it is reported). `data` is a
/// JPEG or PNG: the store re-encodes it (upright, ~1600 px, without EXIF).
struct DraftPhoto: Identifiable {
    let id = UUID()
    let data: Data
    var caption: String
    let takenAt: Int64?
    let preview: UIImage

    /// A draft from what the camera or the library gave; nil when it does not decode.
    /// Decodes and may re-encode: call it off the main thread.
    static func make(from data: Data, takenAt: Int64?) -> DraftPhoto? {
        guard let storable = PhotoFormat.storable(data),
              let preview = PhotoFormat.image(storable, maxSide: PhotoFormat.previewSide)
        else { return nil }
        return DraftPhoto(data: storable, caption: "", takenAt: takenAt, preview: preview)
    }
}

/// What `attachPhoto` takes (JPEG or PNG) and images for the screens.
enum PhotoFormat {
    /// The store's longest side (`PhotoSettings.maxSide`'s default) and the previews'.
    static let storedSide = 1600
    static let previewSide = 320

    static func isJpegOrPng(_ data: Data) -> Bool {
        let head = [UInt8](data.prefix(8))
        if head.count >= 3, head[0] == 0xFF, head[1] == 0xD8, head[2] == 0xFF { return true }
        return head == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    }

    /// JPEG and PNG as they are; anything else the library holds (HEIC, the iPhone's
    /// default since iOS 11) decoded upright at the store's size and re-encoded as JPEG.
    static func storable(_ data: Data) -> Data? {
        if isJpegOrPng(data) { return data }
        return image(data, maxSide: storedSide)?.jpegData(compressionQuality: 0.9)
    }

    /// `data` decoded upright (EXIF orientation applied) at most `maxSide` px, without
    /// decoding the whole 12-megapixel image first.
    static func image(_ data: Data, maxSide: Int) -> UIImage? {
        guard let source = CGImageSourceCreateWithData(data as CFData, nil) else { return nil }
        let options: [CFString: Any] = [
            kCGImageSourceCreateThumbnailFromImageAlways: true,
            kCGImageSourceCreateThumbnailWithTransform: true,
            kCGImageSourceThumbnailMaxPixelSize: maxSide,
        ]
        guard let image = CGImageSourceCreateThumbnailAtIndex(source, 0, options as CFDictionary) else { return nil }
        return UIImage(cgImage: image)
    }
}

/// The sync bar's line, records and photos apart: "3 条修改待同步，照片 2 张待上传（1.4 MB）",
/// "正在上传记录 12/40", "记录已同步，照片 1/3（0.6/1.9 MB）", "已全部同步". The same rules as
/// the Android demo's `SyncLine` (tested there on the JVM): counted in photos
/// (`PendingPhotos.photos`, and the photo phase's items: a photo is done with its thumbnail).
enum SyncLine {
    /// When the phone last synced in full (`SyncStatus.lastSuccess`), in China time.
    static func lastSync(_ lastSuccess: Int64?) -> String {
        lastSuccess.map { "上次同步 \(chinaTime(at: $0))" } ?? "尚未同步"
    }

    static func text(syncing: Bool, progress: GridsyncFFI.Progress?, pendingChanges: UInt64,
                     photos: PendingPhotos) -> String {
        guard syncing else { return idle(pendingChanges, photos) }
        guard let progress else { return "正在同步…" }
        switch progress.phase {
        case .push: return "正在上传记录" + count(progress) + waiting(photos)
        case .pull: return "正在接收记录" + count(progress) + waiting(photos)
        case .verify: return "正在核对记录" + count(progress) + waiting(photos)
        case .photos: return uploading(progress)
        }
    }

    /// The records' share of the bar: 1 once the photo phase began.
    static func recordFraction(_ progress: GridsyncFFI.Progress) -> Double? {
        if progress.phase == .photos { return 1 }
        guard let total = progress.itemsTotal, total > 0 else { return nil }
        return Double(progress.itemsDone) / Double(total)
    }

    /// The photos' share, by bytes; nil outside the photo phase.
    static func photoFraction(_ progress: GridsyncFFI.Progress) -> Double? {
        guard progress.phase == .photos, progress.photoBytesTotal > 0 else { return nil }
        return min(1, Double(progress.photoBytesDone) / Double(progress.photoBytesTotal))
    }

    /// "356 KB", "1.4 MB".
    static func size(_ bytes: UInt64) -> String {
        bytes < 1 << 20 ? "\(kib(bytes)) KB" : "\(mib(bytes)) MB"
    }

    private static func idle(_ pendingChanges: UInt64, _ photos: PendingPhotos) -> String {
        if pendingChanges == 0 && photos.photos == 0 { return "已全部同步" }
        let records = pendingChanges == 0 ? "记录已同步" : "\(pendingChanges) 条修改待同步"
        return records + waiting(photos)
    }

    private static func waiting(_ photos: PendingPhotos) -> String {
        photos.photos == 0 ? "" : "，照片 \(photos.photos) 张待上传（\(size(photos.bytes))）"
    }

    private static func count(_ progress: GridsyncFFI.Progress) -> String {
        guard let total = progress.itemsTotal else { return "…" }
        return " \(min(progress.itemsDone, total))/\(total)"
    }

    private static func uploading(_ progress: GridsyncFFI.Progress) -> String {
        let total = progress.itemsTotal ?? 0
        let done = min(progress.itemsDone, total)
        let bytes = progress.photoBytesTotal > 0
            ? "（\(sizes(progress.photoBytesDone, progress.photoBytesTotal))）" : ""
        return "记录已同步，照片 \(done)/\(total)\(bytes)"
    }

    private static func sizes(_ done: UInt64, _ total: UInt64) -> String {
        total < 1 << 20 ? "\(kib(done))/\(kib(total)) KB" : "\(mib(done))/\(mib(total)) MB"
    }

    private static func kib(_ bytes: UInt64) -> UInt64 { (bytes + 1023) / 1024 }

    private static func mib(_ bytes: UInt64) -> String { String(format: "%.1f", Double(bytes) / 1_048_576) }
}

/// Where a new photo comes from.
enum PhotoSource: String, Identifiable {
    case camera, library
    var id: String { rawValue }
}

/// 拍照 (when the phone has a camera) and 从相册选择; hands each photo, read and previewed
/// off the main thread, to `onPicked`.
struct PhotoCaptureButtons: View {
    @EnvironmentObject var model: AppModel
    let onPicked: (DraftPhoto) -> Void
    @State private var source: PhotoSource?

    var body: some View {
        HStack(spacing: 16) {
            if UIImagePickerController.isSourceTypeAvailable(.camera) {
                Button("take_photo") { source = .camera }
            }
            Button("pick_photo") { source = .library }
        }
        // Two buttons in one list row: each its own tap target.
        .buttonStyle(BorderlessButtonStyle())
        .sheet(item: $source) { source in
            switch source {
            case .camera:
                CameraPicker(dismiss: { self.source = nil }) { data in
                    read(data, takenAt: Int64(Date().timeIntervalSince1970 * 1000))
                }
            case .library:
                // Not dated: the library photo's EXIF date is not read here.
                LibraryPicker(dismiss: { self.source = nil }) { data in read(data, takenAt: nil) }
            }
        }
    }

    private func read(_ data: Data, takenAt: Int64?) {
        DispatchQueue.global(qos: .userInitiated).async {
            let draft = DraftPhoto.make(from: data, takenAt: takenAt)
            DispatchQueue.main.async {
                if let draft {
                    onPicked(draft)
                } else {
                    model.message = NSLocalizedString("photo_unreadable", comment: "")
                }
            }
        }
    }
}

/// Photos taken or picked and not attached yet: preview, caption, remove.
struct DraftPhotoList: View {
    @Binding var drafts: [DraftPhoto]

    var body: some View {
        ForEach(drafts) { draft in
            HStack {
                Image(uiImage: draft.preview).resizable().scaledToFill().frame(width: 64, height: 64).clipped()
                TextField("photo_caption", text: caption(draft.id))
                Button("remove_photo") { drafts.removeAll { $0.id == draft.id } }
                    .buttonStyle(BorderlessButtonStyle())
            }
        }
    }

    /// The caption of draft `id`, looked up by id (a removed row's field writes nothing).
    private func caption(_ id: UUID) -> Binding<String> {
        Binding(
            get: { drafts.first { $0.id == id }?.caption ?? "" },
            set: { text in
                if let index = drafts.firstIndex(where: { $0.id == id }) { drafts[index].caption = text }
            })
    }
}

/// A photo's thumbnail: from this phone, or fetched from the center (a colleague's photo);
/// the fetch is cancelled when the thumbnail leaves the screen.
struct PhotoThumbnail: View {
    @EnvironmentObject var model: AppModel
    let recordId: String
    let photo: Photo
    @State private var image: UIImage?
    @State private var failed: String?

    var body: some View {
        VStack(alignment: .leading, spacing: 2) {
            ZStack {
                if let image {
                    Image(uiImage: image).resizable().scaledToFill()
                } else if failed != nil {
                    Text("photo_not_here").font(.caption2)
                } else {
                    ProgressView()
                }
            }
            .frame(width: 96, height: 96)
            .clipped()
            Text(photo.caption).font(.caption).lineLimit(1)
            if !photo.uploaded { Text("photo_waiting").font(.caption2).foregroundColor(.orange) }
        }
        .frame(width: 96)
        .task(id: photo.thumbnailHash) {
            do {
                let data = try await model.photoData(recordId: recordId, hash: photo.thumbnailHash,
                                                     here: photo.thumbnailHere)
                image = UIImage(data: data)
            } catch {
                failed = AppModel.describe(error)
            }
        }
    }
}

/// A photo opened from its thumbnail.
struct OpenedPhoto: Identifiable {
    let photo: Photo
    var id: String { photo.hash }
}

/// The whole photo, fetched from the center when this phone holds only its thumbnail.
struct PhotoViewer: View {
    @EnvironmentObject var model: AppModel
    @Environment(\.presentationMode) var presentation
    let recordId: String
    let photo: Photo
    @State private var image: UIImage?
    @State private var failed: String?

    private static let dates: DateFormatter = {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter
    }()

    var body: some View {
        NavigationView {
            VStack(spacing: 12) {
                if let image {
                    Image(uiImage: image).resizable().scaledToFit()
                } else if let failed {
                    Text(failed).foregroundColor(.red)
                } else {
                    ProgressView()
                    if !photo.photoHere { Text("downloading_photo").font(.caption) }
                }
                if !photo.caption.isEmpty { Text(photo.caption) }
                Text("photo_meta \(photo.addedBy) \(date) \(SyncLine.size(photo.size))").font(.caption)
                Spacer()
            }
            .padding()
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("close") { presentation.wrappedValue.dismiss() }
                }
            }
        }
        .task(id: photo.hash) {
            do {
                let data = try await model.photoData(recordId: recordId, hash: photo.hash, here: photo.photoHere)
                image = UIImage(data: data)
            } catch {
                failed = AppModel.describe(error)
            }
        }
    }

    private var date: String {
        PhotoViewer.dates.string(from: Date(timeIntervalSince1970: Double(photo.takenAt ?? photo.addedAt) / 1000))
    }
}

/// The camera (UIImagePickerController): the photo as JPEG, its orientation kept in EXIF
/// for the store to apply.
struct CameraPicker: UIViewControllerRepresentable {
    let dismiss: () -> Void
    let onPicked: (Data) -> Void

    func makeCoordinator() -> Coordinator { Coordinator(self) }

    func makeUIViewController(context: Context) -> UIImagePickerController {
        let picker = UIImagePickerController()
        picker.sourceType = .camera
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: UIImagePickerController, context: Context) {}

    final class Coordinator: NSObject, UIImagePickerControllerDelegate, UINavigationControllerDelegate {
        private let parent: CameraPicker
        init(_ parent: CameraPicker) { self.parent = parent }

        func imagePickerController(_ picker: UIImagePickerController,
                                   didFinishPickingMediaWithInfo info: [UIImagePickerController.InfoKey: Any]) {
            let image = info[.originalImage] as? UIImage
            parent.dismiss()
            if let data = image?.jpegData(compressionQuality: 0.9) { parent.onPicked(data) }
        }

        func imagePickerControllerDidCancel(_ picker: UIImagePickerController) {
            parent.dismiss()
        }
    }
}

/// The photo library through PHPickerViewController (iOS 14+; PhotosPicker needs iOS 16,
/// above this app's iOS 15). The picker runs outside the app: no library permission is
/// asked. Hands over the original file's bytes (JPEG, or HEIC that `DraftPhoto.make`
/// re-encodes).
struct LibraryPicker: UIViewControllerRepresentable {
    let dismiss: () -> Void
    let onPicked: (Data) -> Void

    func makeCoordinator() -> Coordinator { Coordinator(self) }

    func makeUIViewController(context: Context) -> PHPickerViewController {
        var configuration = PHPickerConfiguration()
        configuration.filter = .images
        configuration.selectionLimit = 1
        let picker = PHPickerViewController(configuration: configuration)
        picker.delegate = context.coordinator
        return picker
    }

    func updateUIViewController(_ controller: PHPickerViewController, context: Context) {}

    final class Coordinator: NSObject, PHPickerViewControllerDelegate {
        private let parent: LibraryPicker
        init(_ parent: LibraryPicker) { self.parent = parent }

        func picker(_ picker: PHPickerViewController, didFinishPicking results: [PHPickerResult]) {
            parent.dismiss()
            guard let provider = results.first?.itemProvider else { return }
            let type = provider.hasItemConformingToTypeIdentifier(UTType.jpeg.identifier) ? UTType.jpeg : UTType.image
            let onPicked = parent.onPicked
            provider.loadDataRepresentation(forTypeIdentifier: type.identifier) { data, _ in
                // Unreadable (an iCloud photo offline): empty bytes, which `DraftPhoto.make` refuses.
                DispatchQueue.main.async { onPicked(data ?? Data()) }
            }
        }
    }
}
