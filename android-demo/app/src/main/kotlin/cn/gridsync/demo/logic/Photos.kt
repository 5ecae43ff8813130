package cn.gridsync.demo.logic

import java.util.Locale
import uniffi.gridsync_ffi.*

/**
 * A photo the worker took or picked, with the caption typed for it, not attached yet
 * (on the report form, before the incident exists). [bytes] is a JPEG or PNG: the store
 * re-encodes it (upright, ~1600 px, without EXIF).
 */
class DraftPhoto(val bytes: ByteArray, val caption: String, val takenAt: Long?)

/** What attaching one photo gave. */
sealed interface PhotoResult {
    data class Attached(val photo: Photo) : PhotoResult
    /** Not kept, with the reason in Chinese (待上传照片已满, not a JPEG/PNG…). */
    data class Refused(val reason: String) : PhotoResult
}

/** A photo's or thumbnail's bytes, or why they cannot be shown now (no network…). */
sealed interface PhotoLoad {
    class Loaded(val bytes: ByteArray) : PhotoLoad
    data class Unavailable(val reason: String) : PhotoLoad
}

/** An incident reported with photos: the incident's result, then each photo's, in order. */
data class IncidentReported(val result: SaveResult, val photos: List<PhotoResult>) {
    /** The reasons of the photos not kept, for one message. */
    val refused: List<String> get() = photos.filterIsInstance<PhotoResult.Refused>().map { it.reason }
}

/** What the store takes, and how far an app may shrink a photo before handing it over. */
object PhotoFormat {
    /** Longest side the store keeps (`PhotoSettings.maxSide`'s default). */
    const val STORED_SIDE = 1600

    /** Whether [bytes] start as a JPEG or a PNG does: what `attachPhoto` accepts. */
    fun isJpegOrPng(bytes: ByteArray): Boolean {
        fun at(i: Int) = if (i < bytes.size) bytes[i].toInt() and 0xff else -1
        val jpeg = at(0) == 0xff && at(1) == 0xd8 && at(2) == 0xff
        val png = intArrayOf(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a).withIndex().all { (i, b) -> at(i) == b }
        return jpeg || png
    }

    /**
     * The largest power-of-two sample size that keeps an image's longest side at least
     * [atLeast] px: decoding a HEIC/WebP from the gallery for re-encoding as JPEG need not
     * hold a 12-megapixel bitmap when the store keeps 1600 px.
     */
    fun sampleSize(longestSide: Int, atLeast: Int = STORED_SIDE): Int {
        var size = 1
        while (longestSide / (size * 2) >= atLeast) size *= 2
        return size
    }
}

/**
 * The sync bar's line, records and photos apart: "3 条修改待同步，照片 2 张待上传（1.4 MB）",
 * "正在上传记录 12/40", "记录已同步，照片 1/3（0.6/1.9 MB）", "已全部同步".
 *
 * Counted in photos, as the worker thinks: `PendingPhotos.photos`, and the photo phase's
 * `itemsDone/itemsTotal` (a photo is done once it and its thumbnail are at the center).
 */
object SyncLine {
    /**
     * [state] from the [SyncController] (its latest progress while running);
     * [pendingChanges] (`SyncStatus.pendingChanges`) and [photos] (`pendingPhotos()`) as
     * read after the last change or sync.
     */
    fun of(state: SyncUiState, pendingChanges: ULong, photos: PendingPhotos): String {
        if (!state.running) return idle(pendingChanges, photos)
        val progress = state.progress ?: return "正在同步…"
        return when (progress.phase) {
            Phase.PUSH -> "正在上传记录" + count(progress) + waiting(photos)
            Phase.PULL -> "正在接收记录" + count(progress) + waiting(photos)
            Phase.VERIFY -> "正在核对记录" + count(progress) + waiting(photos)
            Phase.PHOTOS -> uploading(progress)
        }
    }

    /** When the phone last synced in full (`SyncStatus.lastSuccess`), in China time. */
    fun lastSync(lastSuccess: Long?): String =
        lastSuccess?.let { "上次同步 ${chinaTime(it)}" } ?: "尚未同步"

    /** The records' share of the bar: 1 once the photo phase began. */
    fun recordFraction(progress: Progress): Float? = when {
        progress.phase == Phase.PHOTOS -> 1f
        else -> progress.itemsTotal?.takeIf { it > 0uL }?.let { progress.itemsDone.toFloat() / it.toFloat() }
    }

    /** The photos' share, by bytes (a photo is ~50 times its thumbnail); null outside the photo phase. */
    fun photoFraction(progress: Progress): Float? =
        if (progress.phase != Phase.PHOTOS || progress.photoBytesTotal == 0uL) null
        else (progress.photoBytesDone.toDouble() / progress.photoBytesTotal.toDouble()).toFloat().coerceIn(0f, 1f)

    private fun idle(pendingChanges: ULong, photos: PendingPhotos): String {
        if (pendingChanges == 0uL && photos.photos == 0uL) return "已全部同步"
        val records = if (pendingChanges == 0uL) "记录已同步" else "$pendingChanges 条修改待同步"
        return records + waiting(photos)
    }

    private fun waiting(photos: PendingPhotos): String =
        if (photos.photos == 0uL) "" else "，照片 ${photos.photos} 张待上传（${size(photos.bytes)}）"

    private fun count(progress: Progress): String =
        progress.itemsTotal?.let { " ${minOf(progress.itemsDone, it)}/$it" } ?: "…"

    private fun uploading(progress: Progress): String {
        val total = progress.itemsTotal ?: 0uL
        val done = minOf(progress.itemsDone, total)
        val bytes = if (progress.photoBytesTotal > 0uL) "（${sizes(progress.photoBytesDone, progress.photoBytesTotal)}）" else ""
        return "记录已同步，照片 $done/$total$bytes"
    }

    private const val MIB = 1024.0 * 1024.0

    /** "356 KB", "1.4 MB". */
    fun size(bytes: ULong): String =
        if (bytes < 1024uL * 1024uL) "${kib(bytes)} KB" else "${mib(bytes)} MB"

    /** Done and total in the total's unit: "120/356 KB", "0.6/1.9 MB". */
    fun sizes(done: ULong, total: ULong): String =
        if (total < 1024uL * 1024uL) "${kib(done)}/${kib(total)} KB" else "${mib(done)}/${mib(total)} MB"

    private fun kib(bytes: ULong): ULong = (bytes + 1023uL) / 1024uL

    private fun mib(bytes: ULong): String = String.format(Locale.ROOT, "%.1f", bytes.toDouble() / MIB)
}
