package cn.gridsync.demo.logic

import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList
import uniffi.gridsync_ffi.*

/** Who asked for a sync: the worker's tap, or WorkManager's job. */
enum class SyncOrigin { USER, BACKGROUND }

/** How a sync ended, as its caller must react: nothing else to interpret. */
sealed interface SyncOutcome {
    data class Synced(val report: SyncReport) : SyncOutcome
    /** The network failed: try again later (WorkManager backs off; the user may tap again). */
    data class RetryLater(val reason: String) : SyncOutcome
    /** Stopped by a cancel (the user, or WorkManager's stop): what completed is kept. */
    data class Cancelled(val reason: String) : SyncOutcome
    /** Not enrolled, or the center refused the credentials: show enrolment. */
    data class NeedsEnrolment(val reason: String) : SyncOutcome
    /**
     * Revoked at the center. With [wiped] the store has erased its data as ordered: delete
     * the key and the file and return to enrolment.
     */
    data class Revoked(val wiped: Boolean, val reason: String) : SyncOutcome
    /** Something a retry does not mend (protocol, storage): show [reason]. */
    data class Failed(val reason: String) : SyncOutcome
}

/**
 * The one way the app syncs, shared by the UI and the background job, so that the two
 * never sync at once and either can stop the other:
 *
 * - A sync asked for while one runs joins it: the caller waits for that sync's outcome
 *   (and hears its progress) instead of starting a second.
 * - [cancel] stops the sync under way, whoever started it.
 * - One retry policy, not two stacked: a background sync makes no retries of its own
 *   (`retries = 0`), WorkManager's exponential backoff is the retry; a sync the worker
 *   asked for retries twice, quickly, so a tap does not wait minutes on a dead link.
 */
class SyncCoordinator(private val store: GridStore, private val options: () -> CenterOptions) {
    private class Running(val cancel: SyncCancel, val outcome: CompletableFuture<SyncOutcome>)

    private val lock = Any()
    private var running: Running? = null
    private val listeners = CopyOnWriteArrayList<SyncProgressListener>()
    private val fanOut = object : SyncProgressListener {
        override fun onProgress(progress: Progress) = listeners.forEach { it.onProgress(progress) }
    }

    /** Whether a sync is under way. */
    val isRunning: Boolean get() = synchronized(lock) { running != null }

    /**
     * Syncs on the calling thread (a background thread), or waits for the sync already
     * under way; [progress] hears that sync's progress either way.
     */
    fun sync(origin: SyncOrigin, progress: SyncProgressListener? = null): SyncOutcome {
        progress?.let(listeners::add)
        try {
            val (run, mine) = synchronized(lock) {
                running?.let { it to false } ?: Running(SyncCancel(), CompletableFuture()).also { running = it }.let { it to true }
            }
            if (!mine) return run.outcome.get()
            val outcome = try {
                SyncOutcome.Synced(store.sync(optionsFor(origin), fanOut, run.cancel))
            } catch (e: GridsyncException) {
                outcomeOf(e)
            } finally {
                synchronized(lock) { running = null }
            }
            run.outcome.complete(outcome)
            return outcome
        } finally {
            progress?.let(listeners::remove)
        }
    }

    /** Stops the sync under way, whoever started it; what completed is kept. */
    fun cancel() {
        synchronized(lock) { running?.cancel?.cancel() }
    }

    /** The options of a sync [origin] asked for: the retry policy is the caller's. */
    fun optionsFor(origin: SyncOrigin): CenterOptions = when (origin) {
        SyncOrigin.BACKGROUND -> options().copy(retries = 0u)
        SyncOrigin.USER -> options().copy(retries = 2u, backoffBaseMs = 250uL, backoffMaxMs = 2_000uL)
    }

    companion object {
        fun outcomeOf(e: GridsyncException): SyncOutcome = when (e) {
            is GridsyncException.Network -> if (e.retryable) SyncOutcome.RetryLater(e.messageZh) else SyncOutcome.Failed(e.messageZh)
            is GridsyncException.Cancelled -> SyncOutcome.Cancelled(e.messageZh)
            is GridsyncException.NotEnrolled -> SyncOutcome.NeedsEnrolment(e.messageZh)
            is GridsyncException.Unauthorized -> SyncOutcome.NeedsEnrolment(e.messageZh)
            is GridsyncException.Revoked -> SyncOutcome.Revoked(e.wiped, e.messageZh)
            else -> SyncOutcome.Failed(SyncController.describe(e))
        }
    }
}
