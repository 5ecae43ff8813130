package cn.gridsync.demo

import android.app.Application
import android.content.Context
import android.util.Log
import androidx.work.BackoffPolicy
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.OutOfQuotaPolicy
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import cn.gridsync.demo.logic.SyncCoordinator
import java.util.concurrent.TimeUnit
import uniffi.gridsync_ffi.CenterOptions
import uniffi.gridsync_ffi.GridStore
import uniffi.gridsync_ffi.LogLevel
import uniffi.gridsync_ffi.LogSink
import uniffi.gridsync_ffi.setLogSink

/** Opens the one store of the app, owns its one sync coordinator and schedules background sync. */
class GridsyncApp : Application() {
    private val keys by lazy { KeyManager(this) }
    private val databaseFile get() = filesDir.resolve("gridsync.db")

    override fun onCreate() {
        super.onCreate()
        // gridsync's log lines in Logcat (they carry ids and codes, never personal data).
        setLogSink(object : LogSink {
            override fun log(level: LogLevel, target: String, message: String) {
                val priority = when (level) {
                    LogLevel.ERROR -> Log.ERROR
                    LogLevel.WARN -> Log.WARN
                    LogLevel.INFO -> Log.INFO
                    LogLevel.DEBUG -> Log.DEBUG
                    LogLevel.TRACE -> Log.VERBOSE
                }
                Log.println(priority, "gridsync", "$target: $message")
            }
        }, LogLevel.INFO)
        // A wipe ordered by the center completed while the store was open: the key and the
        // (erased) file go now, before anything opens them, and the worker enrols again.
        if (prefs.getBoolean(WIPED, false)) {
            removeDatabaseFiles { it.delete() }
            keys.forget()
            prefs.edit().clear().commit()
        }
    }

    /**
     * The Keystore lost the key that wraps the database key (a factory reset of the
     * secure hardware, a restored backup): the database cannot be read. The app says so
     * and offers to set the unreadable file aside and enrol again; it never opens a new
     * empty store over it silently.
     */
    val keyLost: Boolean get() = key() is DatabaseKey.Lost

    /** The database key; a new one only while there is no database it could be for. */
    private fun key() = keys.databaseKey(createIfMissing = !databaseFile.exists())

    val store: GridStore by lazy {
        when (val key = key()) {
            is DatabaseKey.Ready -> GridStore.open(databaseFile.path, key.bytes)
            is DatabaseKey.Lost -> error("the database key is lost: check keyLost first")
        }
    }

    val syncCoordinator: SyncCoordinator by lazy { SyncCoordinator(store) { centerOptions } }

    private val prefs by lazy { getSharedPreferences("gridsync", Context.MODE_PRIVATE) }

    /** The grid this worker covers (the first prefix of the scope from enrolment). */
    var area: String?
        get() = prefs.getString("area", null)
        set(value) { prefs.edit().putString("area", value).apply() }

    var caCertificate: String?
        get() = prefs.getString("ca", null)
        set(value) { prefs.edit().putString("ca", value).apply() }

    val centerOptions get() = CenterOptions(caCertificate = caCertificate, allowInsecureLoopback = false)

    /**
     * Syncs whenever the network is there: every hour with the battery not low, and now
     * (expedited when the quota allows). Unique work: at most one of each is queued, and
     * the coordinator keeps them from syncing at the same time as the UI.
     */
    fun scheduleSync() {
        val constraints = Constraints.Builder()
            .setRequiredNetworkType(NetworkType.CONNECTED)
            .setRequiresBatteryNotLow(true)
            .build()
        val work = WorkManager.getInstance(this)
        work.enqueueUniquePeriodicWork(
            PERIODIC, ExistingPeriodicWorkPolicy.KEEP,
            PeriodicWorkRequestBuilder<SyncWorker>(1, TimeUnit.HOURS)
                .setConstraints(constraints)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build(),
        )
        work.enqueueUniqueWork(
            NOW, ExistingWorkPolicy.KEEP,
            OneTimeWorkRequestBuilder<SyncWorker>()
                .setConstraints(Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build())
                .setExpedited(OutOfQuotaPolicy.RUN_AS_NON_EXPEDITED_WORK_REQUEST)
                .setBackoffCriteria(BackoffPolicy.EXPONENTIAL, 30, TimeUnit.SECONDS)
                .build(),
        )
    }

    /** Stops background sync (revoked, or before a reset). */
    fun cancelSync() {
        WorkManager.getInstance(this).apply {
            cancelUniqueWork(PERIODIC)
            cancelUniqueWork(NOW)
        }
    }

    /**
     * After a revocation with a wipe (the store erased its data as the center ordered):
     * background sync stops, and the key and the file go at the next start of the app
     * ([onCreate]), before anything opens them. The caller on screen restarts the app.
     */
    fun resetAfterWipe() {
        cancelSync()
        prefs.edit().putBoolean(WIPED, true).commit()
    }

    /**
     * After the key was lost: the unreadable database is set aside (renamed, never
     * deleted: an engineer with a backup of the key can still read it), a new key is
     * made, and the worker enrols again. Unsynced records in it are not recoverable on
     * this phone; the screen says so before the worker confirms.
     */
    fun setAsideAfterKeyLoss() {
        check(keyLost) { "the key is not lost" }
        cancelSync()
        val stamp = System.currentTimeMillis()
        removeDatabaseFiles { file -> file.renameTo(file.resolveSibling("${file.name}.lost-$stamp")) }
        keys.forget()
        prefs.edit().clear().commit()
    }

    /** Starts the app afresh (after a reset): a new process opens a new store. */
    fun restart() {
        val launch = packageManager.getLaunchIntentForPackage(packageName) ?: return
        launch.addFlags(android.content.Intent.FLAG_ACTIVITY_NEW_TASK or android.content.Intent.FLAG_ACTIVITY_CLEAR_TASK)
        startActivity(launch)
        Runtime.getRuntime().exit(0)
    }

    private fun removeDatabaseFiles(remove: (java.io.File) -> Unit) {
        for (suffix in listOf("", "-wal", "-shm")) {
            val file = databaseFile.resolveSibling(databaseFile.name + suffix)
            if (file.exists()) remove(file)
        }
    }

    private companion object {
        const val WIPED = "wiped"
        const val PERIODIC = "gridsync-periodic"
        const val NOW = "gridsync-now"
    }
}
