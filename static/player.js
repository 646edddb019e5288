// Plays a recording from a transcript turn's time, in the page's own player.
// Without this script each time is a link that opens the recording at that
// time (a media fragment), so the page works either way.
"use strict";
document.addEventListener("click", function (event) {
  var link = event.target.closest("a[data-seek]");
  var player = document.getElementById("player");
  if (!link || !player) {
    return;
  }
  var seconds = parseFloat(link.getAttribute("data-seek"));
  if (isNaN(seconds)) {
    return;
  }
  event.preventDefault();
  player.currentTime = seconds;
  player.play();
  player.focus();
});
