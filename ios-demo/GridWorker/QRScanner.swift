import AVFoundation
import SwiftUI

/// The camera, reading QR codes live (AVFoundation's own reader: no third-party code).
/// Calls `onScan` once, with the first code's text; says so when the camera is not
/// allowed instead of showing a black screen.
struct QRScanner: View {
    let onScan: (String) -> Void
    @State private var allowed = AVCaptureDevice.authorizationStatus(for: .video)

    var body: some View {
        switch allowed {
        case .authorized:
            CameraReader(onScan: onScan).ignoresSafeArea()
        case .notDetermined:
            ProgressView().task {
                _ = await AVCaptureDevice.requestAccess(for: .video)
                allowed = AVCaptureDevice.authorizationStatus(for: .video)
            }
        default:
            Text("camera_not_allowed").padding()
        }
    }
}

private struct CameraReader: UIViewControllerRepresentable {
    let onScan: (String) -> Void

    func makeUIViewController(context: Context) -> ReaderController {
        let controller = ReaderController()
        controller.onScan = onScan
        return controller
    }

    func updateUIViewController(_ controller: ReaderController, context: Context) {}
}

final class ReaderController: UIViewController, AVCaptureMetadataOutputObjectsDelegate {
    var onScan: ((String) -> Void)?
    private let session = AVCaptureSession()
    private let preview = AVCaptureVideoPreviewLayer()
    private var reported = false

    override func viewDidLoad() {
        super.viewDidLoad()
        view.backgroundColor = .black
        guard let camera = AVCaptureDevice.default(for: .video),
              let input = try? AVCaptureDeviceInput(device: camera),
              session.canAddInput(input) else { return }
        session.addInput(input)
        let output = AVCaptureMetadataOutput()
        guard session.canAddOutput(output) else { return }
        session.addOutput(output)
        output.setMetadataObjectsDelegate(self, queue: .main)
        output.metadataObjectTypes = [.qr] // set after adding: only then is .qr available
        preview.session = session
        preview.videoGravity = .resizeAspectFill
        view.layer.addSublayer(preview)
    }

    override func viewDidLayoutSubviews() {
        super.viewDidLayoutSubviews()
        preview.frame = view.layer.bounds
    }

    override func viewWillAppear(_ animated: Bool) {
        super.viewWillAppear(animated)
        let session = self.session
        // startRunning blocks until the camera is up: never on the main thread.
        DispatchQueue.global(qos: .userInitiated).async { session.startRunning() }
    }

    override func viewWillDisappear(_ animated: Bool) {
        super.viewWillDisappear(animated)
        let session = self.session
        DispatchQueue.global(qos: .userInitiated).async { session.stopRunning() }
    }

    func metadataOutput(_ output: AVCaptureMetadataOutput, didOutput objects: [AVMetadataObject],
                        from connection: AVCaptureConnection) {
        guard !reported,
              let text = objects.compactMap({ $0 as? AVMetadataMachineReadableCodeObject }).first?.stringValue
        else { return }
        reported = true
        onScan?(text)
    }
}
