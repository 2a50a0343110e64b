// Progressive enhancement only: the search page works without this script.
// It fills in the searcher's time zone (so results also show their own time) and offers
// "Use my location" to fill the latitude and longitude fields.
(function () {
  "use strict";
  var tz = document.getElementById("tz");
  if (tz && !tz.value && window.Intl) {
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && zone.indexOf("Unknown") === -1) tz.value = zone;
    } catch (e) { /* leave it empty: results show each meeting's own time anyway */ }
  }

  var button = document.getElementById("use-location");
  var status = document.getElementById("location-status");
  var lat = document.getElementById("latitude");
  var lon = document.getElementById("longitude");
  if (!button || !status || !lat || !lon || !navigator.geolocation) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    status.textContent = "Finding your location…";
    navigator.geolocation.getCurrentPosition(
      function (position) {
        lat.value = position.coords.latitude.toFixed(5);
        lon.value = position.coords.longitude.toFixed(5);
        status.textContent = "Your location is filled in. Search to see meetings near you.";
      },
      function () {
        status.textContent = "Your location is not available. You can type a latitude and longitude.";
      },
      { timeout: 10000, maximumAge: 600000 }
    );
  });
})();
