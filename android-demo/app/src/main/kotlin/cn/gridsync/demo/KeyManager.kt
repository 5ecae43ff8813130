package cn.gridsync.demo

import android.content.Context
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyProperties
import android.util.Base64
import java.security.KeyStore
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/** The database key, or why there is none. */
sealed interface DatabaseKey {
    class Ready(val bytes: ByteArray) : DatabaseKey
    /**
     * A wrapped key is stored but the Keystore can no longer unwrap it (its key is gone
     * or changed): the database it opens is unreadable. Never replaced silently.
     */
    object Lost : DatabaseKey
}

/**
 * The store's 32-byte database key: generated once from SecureRandom, kept only wrapped
 * (AES-GCM) by a key that never leaves the Android Keystore. gridsync gets the raw bytes
 * in memory and never writes them anywhere. A key that can no longer be unwrapped is
 * [DatabaseKey.Lost], not a new key: a new key would open a new, empty store over the
 * worker's unsynced records.
 */
class KeyManager(context: Context) {
    private val prefs = context.getSharedPreferences("gridsync-key", Context.MODE_PRIVATE)

    /**
     * The key; made now when none is stored and [createIfMissing] (no database exists
     * yet), else [DatabaseKey.Lost].
     */
    fun databaseKey(createIfMissing: Boolean): DatabaseKey {
        val wrapped = prefs.getString(WRAPPED, null)
        val iv = prefs.getString(IV, null)
        if (wrapped != null && iv != null) {
            val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
            val wrapping = keyStore.getKey(ALIAS, null) as? SecretKey ?: return DatabaseKey.Lost
            return try {
                val cipher = Cipher.getInstance(TRANSFORMATION)
                cipher.init(Cipher.DECRYPT_MODE, wrapping, GCMParameterSpec(128, Base64.decode(iv, Base64.NO_WRAP)))
                DatabaseKey.Ready(cipher.doFinal(Base64.decode(wrapped, Base64.NO_WRAP)))
            } catch (e: java.security.GeneralSecurityException) {
                DatabaseKey.Lost
            }
        }
        if (!createIfMissing) return DatabaseKey.Lost
        val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
        val cipher = Cipher.getInstance(TRANSFORMATION)
        cipher.init(Cipher.ENCRYPT_MODE, wrappingKey())
        prefs.edit()
            .putString(WRAPPED, Base64.encodeToString(cipher.doFinal(key), Base64.NO_WRAP))
            .putString(IV, Base64.encodeToString(cipher.iv, Base64.NO_WRAP))
            .commit()
        return DatabaseKey.Ready(key)
    }

    /** Forgets the wrapped key (after a wipe, or once a lost key's database is set aside). */
    fun forget() {
        prefs.edit().clear().commit()
        KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }.deleteEntry(ALIAS)
    }

    private fun wrappingKey(): SecretKey {
        val keyStore = KeyStore.getInstance(ANDROID_KEYSTORE).apply { load(null) }
        (keyStore.getKey(ALIAS, null) as? SecretKey)?.let { return it }
        val generator = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, ANDROID_KEYSTORE)
        generator.init(
            KeyGenParameterSpec.Builder(ALIAS, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
                .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
                .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
                .setKeySize(256)
                .build(),
        )
        return generator.generateKey()
    }

    private companion object {
        const val ANDROID_KEYSTORE = "AndroidKeyStore"
        const val ALIAS = "gridsync-database-key"
        const val TRANSFORMATION = "AES/GCM/NoPadding"
        const val WRAPPED = "wrapped"
        const val IV = "iv"
    }
}
