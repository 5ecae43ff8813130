package cn.gridsync.demo

import android.content.Context
import androidx.work.Worker
import androidx.work.WorkerParameters
import uniffi.gridsync_ffi.GridsyncException
import uniffi.gridsync_ffi.SyncCancel

/**
 * Background sync when the network returns. WorkManager runs it on its own thread;
 * a retryable network failure asks WorkManager to back off and retry.
 */
class SyncWorker(context: Context, params: WorkerParameters) : Worker(context, params) {
    private val cancel = SyncCancel()

    override fun doWork(): Result {
        val app = applicationContext as GridsyncApp
        return try {
            app.store.sync(app.centerOptions, null, cancel)
            Result.success()
        } catch (e: GridsyncException.Network) {
            if (e.retryable) Result.retry() else Result.failure()
        } catch (e: GridsyncException.NotEnrolled) {
            Result.success()
        } catch (e: GridsyncException) {
            Result.failure()
        }
    }

    override fun onStopped() {
        cancel.cancel()
    }
}
