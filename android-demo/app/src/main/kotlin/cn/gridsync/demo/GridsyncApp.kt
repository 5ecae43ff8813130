package cn.gridsync.demo

import android.app.Application
import android.content.Context
import androidx.work.Constraints
import androidx.work.ExistingPeriodicWorkPolicy
import androidx.work.ExistingWorkPolicy
import androidx.work.NetworkType
import androidx.work.OneTimeWorkRequestBuilder
import androidx.work.PeriodicWorkRequestBuilder
import androidx.work.WorkManager
import java.util.concurrent.TimeUnit
import uniffi.gridsync_ffi.CenterOptions
import uniffi.gridsync_ffi.GridStore

/** Opens the one store of the app and schedules background sync. */
class GridsyncApp : Application() {
    val store: GridStore by lazy {
        GridStore.open(filesDir.resolve("gridsync.db").path, KeyManager(this).databaseKey())
    }

    private val prefs by lazy { getSharedPreferences("gridsync", Context.MODE_PRIVATE) }

    /** The grid this worker covers (the first prefix of the scope from enrolment). */
    var area: String?
        get() = prefs.getString("area", null)
        set(value) { prefs.edit().putString("area", value).apply() }

    var caCertificate: String?
        get() = prefs.getString("ca", null)
        set(value) { prefs.edit().putString("ca", value).apply() }

    val centerOptions get() = CenterOptions(caCertificate = caCertificate, allowInsecureLoopback = false)

    /** Syncs whenever the network is there: every hour, and now. */
    fun scheduleSync() {
        val network = Constraints.Builder().setRequiredNetworkType(NetworkType.CONNECTED).build()
        val work = WorkManager.getInstance(this)
        work.enqueueUniquePeriodicWork(
            "gridsync-periodic", ExistingPeriodicWorkPolicy.KEEP,
            PeriodicWorkRequestBuilder<SyncWorker>(1, TimeUnit.HOURS).setConstraints(network).build(),
        )
        work.enqueueUniqueWork(
            "gridsync-now", ExistingWorkPolicy.KEEP,
            OneTimeWorkRequestBuilder<SyncWorker>().setConstraints(network).build(),
        )
    }
}
