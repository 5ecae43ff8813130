import Foundation
import Security

/// The store's 32-byte database key: generated once with SecRandomCopyBytes and kept in
/// the Keychain (this device only, readable after first unlock so background sync can
/// open the store). gridsync receives the bytes in memory and never writes them.
///
/// A key is made only while no database exists: a database without its key is `lost`
/// (never answered with a new key, which would open a new, empty store over the worker's
/// unsynced records), and a Keychain that cannot be read now (locked) is an error to wait
/// out, not a missing key.
enum KeychainKey {
    enum Failure: Error {
        case lost
        case keychain(OSStatus)
    }

    private static let account = "gridsync-database-key"

    static var databaseURL: URL {
        get throws {
            try FileManager.default.url(for: .applicationSupportDirectory, in: .userDomainMask,
                                        appropriateFor: nil, create: true)
                .appendingPathComponent("gridsync.db")
        }
    }

    static func databaseKey() throws -> Data {
        let query: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrAccount as String: account,
            kSecReturnData as String: true,
        ]
        var item: CFTypeRef?
        let read = SecItemCopyMatching(query as CFDictionary, &item)
        if read == errSecSuccess, let data = item as? Data, data.count == 32 {
            return data
        }
        guard read == errSecItemNotFound else { throw Failure.keychain(read) }
        if FileManager.default.fileExists(atPath: try databaseURL.path) { throw Failure.lost }
        var key = Data(count: 32)
        let status = key.withUnsafeMutableBytes { SecRandomCopyBytes(kSecRandomDefault, 32, $0.baseAddress!) }
        guard status == errSecSuccess else { throw Failure.keychain(status) }
        let add: [String: Any] = [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrAccount as String: account,
            kSecAttrAccessible as String: kSecAttrAccessibleAfterFirstUnlockThisDeviceOnly,
            kSecValueData as String: key,
        ]
        let added = SecItemAdd(add as CFDictionary, nil)
        guard added == errSecSuccess else { throw Failure.keychain(added) }
        return key
    }

    /// Forgets the key (after a wipe ordered by the center).
    static func forget() {
        let query: [String: Any] = [kSecClass as String: kSecClassGenericPassword, kSecAttrAccount as String: account]
        SecItemDelete(query as CFDictionary)
    }

    /// After the key was lost: the unreadable database and its WAL are renamed aside
    /// (kept, not deleted) so the worker can enrol again.
    static func setAsideLostDatabase() {
        guard let url = try? databaseURL else { return }
        let stamp = Int(Date().timeIntervalSince1970)
        for suffix in ["", "-wal", "-shm"] {
            let file = URL(fileURLWithPath: url.path + suffix)
            try? FileManager.default.moveItem(at: file, to: URL(fileURLWithPath: file.path + ".lost-\(stamp)"))
        }
        forget()
    }

    /// After a wipe: the erased database and the key go.
    static func removeWipedDatabase() {
        guard let url = try? databaseURL else { return }
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(at: URL(fileURLWithPath: url.path + suffix))
        }
        forget()
    }
}
