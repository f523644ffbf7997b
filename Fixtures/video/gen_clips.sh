#!/bin/sh
# Short clips made from the real photos in ../images with FFmpeg's command line (Debian's
# ffmpeg 5.1), for the video decoder's tests. Deterministic: no timestamps or encoder
# versions in the files (-bitexact, -map_metadata -1). Run from this folder: sh gen_clips.sh
set -eu
cd "$(dirname "$0")"
ff="ffmpeg -hide_banner -loglevel error -y"
common="-map_metadata -1 -fflags +bitexact -flags:v +bitexact"
# pan.mp4: H.264 (x264, B-frames), 16 frames at 8 fps, 80x60: a 240x180 window moving right across the cat.
$ff -loop 1 -framerate 8 -i ../images/cat.png -vf "crop=240:180:x='n*13':y=60,scale=80:60,format=yuv420p" \
    -frames:v 16 -c:v libx264 -preset medium -g 8 -bf 2 -x264-params threads=1 $common pan.mp4
# pan.mov: the same pan in QuickTime with 12 frames, x264 with one keyframe only.
$ff -loop 1 -framerate 8 -i ../images/cat.png -vf "crop=240:180:x='n*17':y=40,scale=80:60,format=yuv420p" \
    -frames:v 12 -c:v libx264 -preset fast -g 100 -bf 3 -x264-params threads=1 $common pan.mov
# zoom.webm: VP9, 20 frames at 10 fps, 64x64: zooming into the camera man's face.
# (zoompan: crop's window size is evaluated once, so crop cannot zoom.)
$ff -loop 1 -framerate 10 -i ../images/camera.png -vf "zoompan=z='1+0.08*on':x='iw*0.45-iw/zoom/2':y='ih*0.3-ih/zoom/2':d=1:s=64x64:fps=10,format=yuv420p" \
    -frames:v 20 -c:v libvpx-vp9 -b:v 0 -crf 30 -g 10 -threads 1 $common zoom.webm
# fade.mkv: H.264 in Matroska, 10 frames at 5 fps, 72x48: the cat fading in from black.
$ff -loop 1 -framerate 5 -i ../images/cat.png -vf "scale=72:48,fade=in:0:10,format=yuv420p" \
    -frames:v 10 -c:v libx264 -preset medium -g 5 -x264-params threads=1 $common fade.mkv
# pan.ts: the pan of pan.mp4 at 10 fps in MPEG-TS (x264, B-frames): its timestamps start at 1.6 s and
# its demuxer lands a seek to the first frame's pts after that frame's packet.
$ff -loop 1 -framerate 10 -i ../images/cat.png -vf "crop=240:180:x='n*13':y=60,scale=80:60,format=yuv420p" \
    -frames:v 16 -c:v libx264 -preset medium -g 8 -bf 2 -x264-params threads=1 $common -f mpegts pan.ts
# pan.avi: MPEG-4 Part 2 with B-frames in AVI, 14 frames, keyframes every 6: AVI stores no
# presentation times (packets carry decoding times, some none), so frames are numbered as decoded.
$ff -loop 1 -framerate 10 -i ../images/cat.png -vf "crop=240:180:x='n*11':y=50,scale=80:60,format=yuv420p" \
    -frames:v 14 -c:v mpeg4 -g 6 -bf 2 -q:v 5 -threads 1 $common pan.avi
# Broken files: the first half of pan.mp4 (its index is at the end, so it does not open);
# pan.mp4 with its index moved to the front, cut at 70% (it opens; a frame is incomplete);
# pan.mp4 with 2 kB of its coded frames overwritten; an MP4 holding only audio; a Matroska file
# whose video stream has no frames (next to an audio stream that has some: every video packet
# dropped by the noise bitstream filter, so the file itself is well formed).
mkdir -p bad
head -c $(( $(wc -c < pan.mp4) / 2 )) pan.mp4 > bad/truncated.mp4
$ff -i pan.mp4 -c copy -movflags +faststart $common bad/faststart.tmp.mp4
head -c $(( $(wc -c < bad/faststart.tmp.mp4) * 7 / 10 )) bad/faststart.tmp.mp4 > bad/truncated-faststart.mp4
rm bad/faststart.tmp.mp4
cp pan.mp4 bad/corrupt.mp4
python3 -c "
import sys; b = bytearray(open('bad/corrupt.mp4','rb').read()); i = b.find(b'mdat') + 64
b[i:i+2048] = bytes((j * 37 + 11) % 256 for j in range(2048)); open('bad/corrupt.mp4','wb').write(b)"
$ff -f lavfi -i "sine=frequency=440:duration=1" -c:a aac $common bad/audio-only.mp4
$ff -f lavfi -i "color=c=gray:s=32x32:r=5" -f lavfi -i "sine=frequency=440:duration=0.2" -map 0:v -map 1:a \
    -t 0.2 -c:v libx264 -x264-params threads=1 -c:a flac -bsf:v noise=dropamount=1 $common -flags:a +bitexact bad/no-frames.mkv
printf 'not a video at all\n' > bad/text.mp4
