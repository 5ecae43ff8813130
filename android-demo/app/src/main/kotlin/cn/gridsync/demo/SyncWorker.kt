package cn.gridsync.demo

import android.content.Context
import androidx.work.Worker
import androidx.work.WorkerParameters
import cn.gridsync.demo.logic.SyncOrigin
import cn.gridsync.demo.logic.SyncOutcome

/**
 * Background sync, through the app's one [cn.gridsync.demo.logic.SyncCoordinator]: it
 * joins a sync the worker started instead of running a second, and WorkManager's
 * backoff is the only retry (the coordinator makes none for background syncs).
 */
class SyncWorker(context: Context, params: WorkerParameters) : Worker(context, params) {
    private val app get() = applicationContext as GridsyncApp

    override fun doWork(): Result {
        if (app.keyLost) return Result.failure() // nothing can be synced: the app asks the worker what to do
        return when (val outcome = app.syncCoordinator.sync(SyncOrigin.BACKGROUND)) {
            is SyncOutcome.Synced -> Result.success()
            is SyncOutcome.RetryLater, is SyncOutcome.Cancelled -> Result.retry()
            // Nothing to sync until the worker enrols (again).
            is SyncOutcome.NeedsEnrolment -> Result.success()
            is SyncOutcome.Revoked -> {
                if (outcome.wiped) app.resetAfterWipe()
                app.cancelSync()
                Result.failure()
            }
            is SyncOutcome.Failed -> Result.failure()
        }
    }

    /** WorkManager stops the job (constraints lost, quota): the sync stops within a second. */
    override fun onStopped() {
        app.syncCoordinator.cancel()
    }
}
