package cn.gridsync.demo.ui

import android.graphics.Bitmap
import android.graphics.BitmapFactory
import android.graphics.ImageDecoder
import android.graphics.Matrix
import android.media.ExifInterface
import android.os.Build
import androidx.compose.ui.graphics.ImageBitmap
import androidx.compose.ui.graphics.asImageBitmap
import cn.gridsync.demo.logic.DraftPhoto
import cn.gridsync.demo.logic.PhotoFormat
import java.io.ByteArrayInputStream
import java.io.ByteArrayOutputStream
import java.nio.ByteBuffer

/** A photo the worker took or picked, read and previewed, waiting for its caption. */
class PickedPhoto(val bytes: ByteArray, val takenAt: Long?, val preview: ImageBitmap) {
    fun draft(caption: String) = DraftPhoto(bytes, caption, takenAt)
}

/**
 * Photo bytes for the store and images for the screens. Run off the main thread: a
 * camera photo is several megabytes.
 */
object PhotoCodec {
    /**
     * [bytes] as the store takes them: a JPEG or PNG as it is (the store re-encodes it,
     * upright, without EXIF); anything else the gallery holds (HEIC from newer cameras,
     * WebP) decoded — no larger than the store keeps — and re-encoded as JPEG. Null when
     * this phone cannot decode it.
     */
    fun asJpegOrPng(bytes: ByteArray): ByteArray? {
        if (PhotoFormat.isJpegOrPng(bytes)) return bytes
        val decoded: Bitmap? = if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) {
            // ImageDecoder reads HEIF and applies the EXIF orientation.
            runCatching {
                ImageDecoder.decodeBitmap(ImageDecoder.createSource(ByteBuffer.wrap(bytes))) { decoder, info, _ ->
                    decoder.setTargetSampleSize(PhotoFormat.sampleSize(maxOf(info.size.width, info.size.height)))
                    decoder.allocator = ImageDecoder.ALLOCATOR_SOFTWARE
                }
            }.getOrNull()
        } else {
            decodeSampled(bytes, PhotoFormat.STORED_SIDE)
        }
        val bitmap = decoded ?: return null
        return ByteArrayOutputStream().use { out ->
            bitmap.compress(Bitmap.CompressFormat.JPEG, 90, out)
            bitmap.recycle()
            out.toByteArray()
        }
    }

    /**
     * An image of [bytes] for the screen, about [side] px on its longest side, upright
     * (a camera JPEG's EXIF orientation applied; the store's photos have none and are
     * upright already). Null when the bytes do not decode.
     */
    fun image(bytes: ByteArray, side: Int): ImageBitmap? {
        val bitmap = decodeSampled(bytes, side) ?: return null
        val degrees = when (orientation(bytes)) {
            ExifInterface.ORIENTATION_ROTATE_90 -> 90f
            ExifInterface.ORIENTATION_ROTATE_180 -> 180f
            ExifInterface.ORIENTATION_ROTATE_270 -> 270f
            else -> 0f
        }
        val upright = if (degrees == 0f) bitmap else
            Bitmap.createBitmap(bitmap, 0, 0, bitmap.width, bitmap.height, Matrix().apply { postRotate(degrees) }, true)
        return upright.asImageBitmap()
    }

    /**
     * The photo's pixels (ARGB, row by row) at about [side] px on its longest side, with
     * its width and height: what [cn.gridsync.demo.logic.EnrolmentScan.read] takes. A QR
     * code reads in any orientation, so EXIF is not applied.
     */
    fun pixels(bytes: ByteArray, side: Int): Triple<IntArray, Int, Int>? {
        val bitmap = decodeSampled(bytes, side) ?: return null
        val pixels = IntArray(bitmap.width * bitmap.height)
        bitmap.getPixels(pixels, 0, bitmap.width, 0, 0, bitmap.width, bitmap.height)
        return Triple(pixels, bitmap.width, bitmap.height).also { bitmap.recycle() }
    }

    private fun decodeSampled(bytes: ByteArray, side: Int): Bitmap? {
        val bounds = BitmapFactory.Options().apply { inJustDecodeBounds = true }
        BitmapFactory.decodeByteArray(bytes, 0, bytes.size, bounds)
        if (bounds.outWidth <= 0 || bounds.outHeight <= 0) return null
        val options = BitmapFactory.Options().apply {
            inSampleSize = PhotoFormat.sampleSize(maxOf(bounds.outWidth, bounds.outHeight), side)
        }
        return BitmapFactory.decodeByteArray(bytes, 0, bytes.size, options)
    }

    private fun orientation(bytes: ByteArray): Int = runCatching {
        ExifInterface(ByteArrayInputStream(bytes)).getAttributeInt(
            ExifInterface.TAG_ORIENTATION, ExifInterface.ORIENTATION_NORMAL)
    }.getOrDefault(ExifInterface.ORIENTATION_NORMAL)
}
